package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"strings"

	"buildledger/commands"
	"buildledger/domain/password"
	"buildledger/domain/user"
	"buildledger/events"
)

// stringList is a repeatable string flag.
type stringList []string

func (s *stringList) String() string     { return strings.Join(*s, ",") }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }

const userUsage = `usage: buildledger user create NAME [--role ROLE]... [--password-file FILE] [--email ADDR] [--full-name NAME]
       buildledger user forget NAME
       buildledger user disable NAME
       buildledger user enable NAME
       buildledger user logout-everywhere NAME
       buildledger user add-key NAME FILE`

// userAction is a user subcommand that names one user and runs one
// command on them.
type userAction struct {
	run  func(h *commands.Handlers, ctx context.Context, md events.Metadata, name string) (commands.Result, error)
	done string // printed with the user's name
}

// userActions are the one-user subcommands. Whoever can run the CLI on
// the server's database may run them, as they may create users.
var userActions = map[string]userAction{
	// forget destroys the user's profile keys and password, and records
	// UserForgotten.
	"forget": {func(h *commands.Handlers, ctx context.Context, md events.Metadata, name string) (commands.Result, error) {
		return h.ForgetUser(ctx, md, commands.ForgetUser{UserName: name})
	}, "forgot user %s: their profile keys and password are destroyed"},
	"disable": {(*commands.Handlers).DisableUser,
		"disabled user %s: they cannot sign in, and their sessions and API tokens are refused"},
	"enable": {(*commands.Handlers).EnableUser, "enabled user %s: they may sign in again"},
	"logout-everywhere": {(*commands.Handlers).RevokeUserSessions,
		"ended every session of user %s (their API tokens stay valid)"},
}

func runUser(ctx context.Context, a *app, args []string) error {
	if len(args) == 0 {
		return errors.New(userUsage)
	}
	if args[0] == "create" {
		return runUserCreate(ctx, a, args)
	}
	if args[0] == "add-key" {
		return runUserAddKey(ctx, a, args[1:])
	}
	if act, ok := userActions[args[0]]; ok {
		return runUserAction(ctx, a, args[0], act, args[1:])
	}
	return errors.New(userUsage)
}

// runUserAction runs a one-user subcommand as the CLI component.
func runUserAction(ctx context.Context, a *app, verb string, act userAction, args []string) error {
	var cfg config
	fs := a.newFlagSet("user "+verb, "user "+verb+" NAME [flags]")
	cfg.register(fs, false)
	name, rest := "", args
	if len(rest) > 0 && !strings.HasPrefix(rest[0], "-") {
		name, rest = rest[0], rest[1:]
	}
	if err := fs.Parse(rest); err != nil {
		return err
	}
	if name == "" {
		fs.Usage()
		return errors.New("missing user NAME")
	}
	return a.withLedger(ctx, cfg, func(sys *system) error {
		md := commands.NewMetadata(commands.ComponentActor("cli"), sys.runtime)
		if _, err := act.run(sys.handlers, ctx, md, name); err != nil {
			return err
		}
		fmt.Fprintf(a.stdout, act.done+"\n", name)
		return nil
	})
}

// runUserAddKey registers the SSH public key in FILE (authorized_keys
// form, - for standard input) for the remote-builder port.
func runUserAddKey(ctx context.Context, a *app, args []string) error {
	var cfg config
	fs := a.newFlagSet("user add-key", "user add-key NAME FILE [flags]")
	cfg.register(fs, false)
	var pos []string
	for len(args) > 0 && !strings.HasPrefix(args[0], "-") || len(args) > 0 && args[0] == "-" {
		pos, args = append(pos, args[0]), args[1:]
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	pos = append(pos, fs.Args()...)
	if len(pos) != 2 {
		fs.Usage()
		return errors.New("want a user NAME and a public key FILE")
	}
	name, file := pos[0], pos[1]
	var key []byte
	var err error
	if file == "-" {
		key, err = readAllLimited(os.Stdin)
	} else {
		key, err = os.ReadFile(file)
	}
	if err != nil {
		return fmt.Errorf("read public key: %w", err)
	}
	return a.withLedger(ctx, cfg, func(sys *system) error {
		md := commands.NewMetadata(commands.ComponentActor("cli"), sys.runtime)
		if _, err := sys.handlers.AddUserSSHKey(ctx, md, commands.AddUserSSHKey{UserName: name, Key: string(key)}); err != nil {
			return err
		}
		k, _ := user.ParseSSHKey(string(key))
		fmt.Fprintf(a.stdout, "added SSH key %s to user %s\n", k.Fingerprint, name)
		return nil
	})
}

func runUserCreate(ctx context.Context, a *app, args []string) error {
	var (
		cfg               config
		roles             stringList
		pwFile, email, fn string
	)
	fs := a.newFlagSet("user create", "user create NAME [--role ROLE]... --password-file FILE [flags]")
	cfg.register(fs, false)
	fs.Var(&roles, "role", "role to grant (admin, create-projects, restart-jobs, bump-to-front, cancel-build, eval-jobset, auditor, submit-builds); repeatable")
	fs.StringVar(&pwFile, "password-file", "", "file holding the password (first line); - reads standard input")
	fs.StringVar(&email, "email", "", "email address (default NAME@localhost)")
	fs.StringVar(&fn, "full-name", "", "full name")
	name, rest := "", args[1:]
	if len(rest) > 0 && !strings.HasPrefix(rest[0], "-") {
		name, rest = rest[0], rest[1:]
	}
	if err := fs.Parse(rest); err != nil {
		return err
	}
	if name == "" && fs.NArg() > 0 {
		name = fs.Arg(0)
	}
	if name == "" {
		fs.Usage()
		return errors.New("missing user NAME")
	}
	if pwFile == "" {
		return errors.New("--password-file is required (a file with the password on its first line, or - for standard input)")
	}
	pw, err := readPassword(pwFile)
	if err != nil {
		return err
	}
	if email == "" {
		email = name + "@localhost"
	}
	hash, err := password.Hash(pw, password.DefaultParams)
	if err != nil {
		return err
	}
	return a.withLedger(ctx, cfg, func(sys *system) error {
		md := commands.NewMetadata(commands.ComponentActor("cli"), sys.runtime)
		if _, err := sys.handlers.CreateUser(ctx, md, commands.CreateUser{UserName: name, FullName: fn, EmailAddress: email, PasswordHash: hash, Roles: roles}); err != nil {
			return err
		}
		fmt.Fprintf(a.stdout, "created user %s with roles [%s]\n", name, strings.Join(roles, ", "))
		return nil
	})
}

func readPassword(file string) (string, error) {
	var b []byte
	var err error
	if file == "-" {
		b, err = readAllLimited(os.Stdin)
	} else {
		b, err = os.ReadFile(file)
	}
	if err != nil {
		return "", fmt.Errorf("read password: %w", err)
	}
	pw, _, _ := strings.Cut(string(b), "\n")
	pw = strings.TrimRight(pw, "\r")
	if pw == "" {
		return "", fmt.Errorf("password file %s: first line is empty", file)
	}
	return pw, nil
}

func readAllLimited(f *os.File) ([]byte, error) {
	buf := make([]byte, 4096)
	n, err := f.Read(buf)
	if n > 0 {
		return buf[:n], nil
	}
	return nil, err
}

// generatePassword returns a random password for the initial admin.
func generatePassword() string {
	b := make([]byte, 18)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}
