package nixsupport

import (
	"errors"
	"fmt"
	"io"
	"path"
	"strings"
)

// Product is one build product: a line of hydra-build-products, or the
// implicit product of an output (see ImplicitProduct).
type Product struct {
	// Type is the product type, e.g. "file", "doc", "nix-build".
	Type string
	// Subtype is free-form, e.g. "readme", "iso"; may be empty.
	Subtype string
	// Path is the absolute, cleaned path of the product.
	Path string
	// DefaultPath is the file inside a directory product to serve by
	// default; may be empty.
	DefaultPath string
	// Name is the base name of Path, or empty when Path is the output
	// itself or its base name has characters outside [a-zA-Z0-9.@:_ -].
	Name string
	// Output is the output path the product lies in.
	Output string
	// Line is the line of hydra-build-products the product comes from;
	// zero for an implicit product.
	Line int
	// FileSize and SHA256 (hex) describe a regular file; both are zero
	// for directories and symbolic links and until FillFileInfo ran.
	FileSize int64
	SHA256   string
}

// ParseProducts reads a hydra-build-products file: one product per line,
// "TYPE SUBTYPE PATH [DEFAULTPATH]" separated by white space. TYPE and
// SUBTYPE match [a-zA-Z0-9_-]+; PATH is a token without white space, '"',
// '<' or '>', or a non-empty double-quoted string without '"'; DEFAULTPATH
// is a token without white space, '<' or '>', relative and not climbing
// out of PATH with "..". Fields after DEFAULTPATH are ignored, as Hydra's
// queue runner ignores them, and so is white space around a line.
//
// PATH must be absolute and, once cleaned, lie inside one of outputs (or be
// one of them); with no outputs every product is rejected. Lines that do
// not parse or point elsewhere are returned in skipped. Unlike Hydra, lines
// that are not valid UTF-8 or hold a NUL byte are rejected.
//
// A read error or a file over lim.MaxBytes stops reading and is returned
// together with the products parsed before it.
func ParseProducts(r io.Reader, outputs []string, lim Limits) (products []Product, skipped []Skipped, err error) {
	roots := cleanOutputs(outputs)
	skipped, err = scanLines(r, lim, func(no int, line string) error {
		p, err := parseProductLine(line, roots)
		if err != nil {
			return err
		}
		p.Line = no
		products = append(products, p)
		return nil
	})
	if err != nil {
		return products, skipped, fmt.Errorf("parse %s: %w", ProductsFile, err)
	}
	return products, skipped, nil
}

func cleanOutputs(outputs []string) []string {
	roots := make([]string, 0, len(outputs))
	for _, o := range outputs {
		if path.IsAbs(o) {
			roots = append(roots, path.Clean(o))
		}
	}
	return roots
}

func parseProductLine(line string, roots []string) (Product, error) {
	typ, rest := nextField(line)
	sub, rest := nextField(rest)
	if typ == "" || sub == "" || rest == "" {
		return Product{}, errors.New("expected TYPE SUBTYPE PATH [DEFAULTPATH]")
	}
	if !matches(typ, false, isTypeChar) {
		return Product{}, fmt.Errorf("type %q has characters outside [a-zA-Z0-9_-]", typ)
	}
	if !matches(sub, false, isTypeChar) {
		return Product{}, fmt.Errorf("subtype %q has characters outside [a-zA-Z0-9_-]", sub)
	}
	p, rest, err := productPath(rest)
	if err != nil {
		return Product{}, err
	}
	def, _ := nextField(rest)
	if err := checkDefaultPath(def); err != nil {
		return Product{}, err
	}
	if !path.IsAbs(p) {
		return Product{}, fmt.Errorf("path %q is not absolute", p)
	}
	p = path.Clean(p)
	root, ok := outputOf(p, roots)
	if !ok {
		return Product{}, fmt.Errorf("path %q is outside the build's outputs", p)
	}
	return Product{
		Type:        typ,
		Subtype:     sub,
		Path:        p,
		DefaultPath: def,
		Name:        productName(p, root),
		Output:      root,
	}, nil
}

// productPath takes the PATH field off the front of s: a quoted string or
// a bare token.
func productPath(s string) (p, rest string, err error) {
	if !strings.HasPrefix(s, `"`) {
		p, rest = nextField(s)
		if strings.ContainsAny(p, `"<>`) {
			return "", "", fmt.Errorf("path %q contains '\"', '<' or '>'", p)
		}
		return p, rest, nil
	}
	end := strings.IndexByte(s[1:], '"')
	if end < 0 {
		return "", "", errors.New("path has no closing quote")
	}
	p, rest = s[1:1+end], s[2+end:]
	if p == "" {
		return "", "", errors.New("quoted path is empty")
	}
	if rest != "" && !isSpace(rest[0]) {
		return "", "", errors.New("no white space after the quoted path")
	}
	return p, trimLeftSpace(rest), nil
}

// checkDefaultPath rejects a default path with '<' or '>' (as Hydra does)
// and, unlike Hydra, one that is absolute or climbs out of its product with
// "..".
func checkDefaultPath(def string) error {
	if strings.ContainsAny(def, "<>") {
		return fmt.Errorf("default path %q contains '<' or '>'", def)
	}
	if def == "" {
		return nil
	}
	if c := path.Clean(def); path.IsAbs(def) || c == ".." || strings.HasPrefix(c, "../") {
		return fmt.Errorf("default path %q leaves the product", def)
	}
	return nil
}

// outputOf returns the output root that holds the clean path p.
func outputOf(p string, roots []string) (string, bool) {
	for _, root := range roots {
		if p == root || strings.HasPrefix(p, root+"/") || root == "/" {
			return root, true
		}
	}
	return "", false
}

// productName derives a product's name as Hydra does: the base name of its
// path, empty for the output itself or for a name with other characters
// than [a-zA-Z0-9.@:_ -].
func productName(p, root string) string {
	if p == root {
		return ""
	}
	name := path.Base(p)
	if !matches(name, true, isNameChar) {
		return ""
	}
	return name
}

// ImplicitProduct is the product Hydra records for a directory output
// without a hydra-build-products file: type "nix-build", subtype ""
// for the output "out" and the output's name otherwise, named after the
// store path's name (the part after the hash).
func ImplicitProduct(outputName, outputPath string) Product {
	sub := outputName
	if outputName == "out" {
		sub = ""
	}
	p := path.Clean(outputPath)
	return Product{
		Type:    "nix-build",
		Subtype: sub,
		Path:    p,
		Name:    StorePathName(p),
		Output:  p,
	}
}

// StorePathName returns the name part of a store path: the base name
// without its 32-character hash and dash. A base name without that shape
// is returned whole.
func StorePathName(storePath string) string {
	base := path.Base(storePath)
	const hashLen = 32
	if len(base) > hashLen+1 && base[hashLen] == '-' && matches(base[:hashLen], false, isAlnum) {
		return base[hashLen+1:]
	}
	return base
}

func isTypeChar(c byte) bool {
	return isAlnum(c) || c == '_' || c == '-'
}

func isNameChar(c byte) bool {
	return isAlnum(c) || strings.IndexByte(".@:_ -", c) >= 0
}
