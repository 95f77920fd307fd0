package web

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"

	"github.com/go-chi/chi/v5"
)

// flexBool accepts JSON true/false, numbers and the strings Hydra's forms
// send ("1", "on", "true").
type flexBool bool

// UnmarshalJSON implements json.Unmarshaler.
func (b *flexBool) UnmarshalJSON(data []byte) error {
	data = bytes.TrimSpace(data)
	if string(data) == "null" {
		*b = false
		return nil
	}
	var s string
	if data[0] == '"' {
		if err := json.Unmarshal(data, &s); err != nil {
			return err
		}
	} else {
		s = string(data)
	}
	*b = flexBool(truthy(s))
	return nil
}

func truthy(s string) bool {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "", "0", "false", "off", "no":
		return false
	}
	return true
}

// flexInt accepts JSON numbers, numeric strings and booleans.
type flexInt int

// UnmarshalJSON implements json.Unmarshaler.
func (n *flexInt) UnmarshalJSON(data []byte) error {
	data = bytes.TrimSpace(data)
	switch string(data) {
	case "null", "false":
		*n = 0
		return nil
	case "true":
		*n = 1
		return nil
	}
	s := string(data)
	if data[0] == '"' {
		if err := json.Unmarshal(data, &s); err != nil {
			return err
		}
	}
	v, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil {
		return errBadRequest("%q is not an integer", s)
	}
	*n = flexInt(v)
	return nil
}

// pathID reads a numeric URL parameter; a bad one is 404.
func pathID(r *http.Request, name string) (int64, error) {
	v, err := strconv.ParseInt(chi.URLParam(r, name), 10, 64)
	if err != nil || v <= 0 || v > 1<<31 {
		return 0, errNotFound(name + " " + strconv.Quote(chi.URLParam(r, name)))
	}
	return v, nil
}

// page reads ?page=N (1-based) for lists of size per page.
func pageOf(r *http.Request, size int) (Page, int) {
	n, err := strconv.Atoi(r.URL.Query().Get("page"))
	if err != nil || n < 1 {
		n = 1
	}
	if n > 100000 {
		n = 100000
	}
	return Page{Offset: (n - 1) * size, Limit: size}, n
}

// queryInt reads a positive integer query parameter bounded by max.
func queryInt(r *http.Request, name string, def, max int) int {
	n, err := strconv.Atoi(r.URL.Query().Get(name))
	if err != nil || n <= 0 {
		return def
	}
	return min(n, max)
}
