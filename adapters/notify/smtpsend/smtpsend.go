// Package smtpsend delivers the outbox's e-mail notifications over SMTP,
// one message per recipient as Hydra sends them.
package smtpsend

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"net/smtp"
	"net/textproto"
	"sort"
	"strings"
	"time"

	"buildledger/commands/reactors/email"
	"buildledger/commands/reactors/outbox"
)

// Sender sends email.Mail payloads. It implements outbox.Sender.
type Sender struct {
	// Server is the SMTP server, host:port.
	Server string
	// From is the sender address (hydra.conf's notification_sender).
	From string
	// Instance is base_uri, sent as X-Hydra-Instance.
	Instance string
	// Now stamps the Date header.
	Now func() time.Time
	// Username and Password, when set, authenticate with SMTP AUTH PLAIN
	// (Hydra's EMAIL_SENDER_TRANSPORT_sasl_username and _password). Go's
	// client sends them only over TLS or to a loopback server.
	Username, Password string
	// TLS is Hydra's EMAIL_SENDER_TRANSPORT_ssl: "starttls" requires
	// STARTTLS, "ssl" connects with TLS; empty uses STARTTLS when the
	// server offers it.
	TLS string
}

var _ outbox.Sender = (*Sender)(nil)

// Send implements outbox.Sender. Each message carries a Message-ID made
// of the notification's key and the recipient's position, so that the
// one duplicate a crash between send and record may cause is the same
// message to a mail client.
func (s *Sender) Send(ctx context.Context, key string, payload []byte) (string, error) {
	var m email.Mail
	if err := json.Unmarshal(payload, &m); err != nil {
		return "", fmt.Errorf("decode mail: %w", err)
	}
	from, err := mail.ParseAddress(s.From)
	if err != nil {
		return "", fmt.Errorf("notification_sender %q: %w", s.From, err)
	}
	for i, to := range m.To {
		rcpt, err := mail.ParseAddress(to)
		if err != nil {
			return "", fmt.Errorf("recipient %d: %w", i+1, err)
		}
		msg, err := s.message(key, i, from.Address, rcpt.Address, m)
		if err != nil {
			return "", err
		}
		if err := s.deliver(ctx, from.Address, rcpt.Address, msg); err != nil {
			return "", fmt.Errorf("recipient %d: %w", i+1, withoutAddresses(err))
		}
	}
	return fmt.Sprintf("250 accepted for %d recipient(s)", len(m.To)), nil
}

// message renders one mail as Hydra's: From "Hydra Build Daemon", UTF-8
// text in quoted-printable, X-Hydra-* headers.
func (s *Sender) message(key string, i int, from, to string, m email.Mail) ([]byte, error) {
	for _, v := range []string{m.Subject, to} {
		if strings.ContainsAny(v, "\r\n") {
			return nil, fmt.Errorf("a header holds a line break")
		}
	}
	var b bytes.Buffer
	h := func(k, v string) { fmt.Fprintf(&b, "%s: %s\r\n", k, v) }
	h("From", (&mail.Address{Name: "Hydra Build Daemon", Address: from}).String())
	h("To", to)
	h("Subject", mime.QEncoding.Encode("utf-8", m.Subject))
	h("Date", s.Now().Format(time.RFC1123Z))
	h("Message-ID", fmt.Sprintf("<%s.%d@buildledger>", key, i))
	h("MIME-Version", "1.0")
	h("Content-Type", `text/plain; charset="UTF-8"`)
	h("Content-Transfer-Encoding", "quoted-printable")
	if s.Instance != "" {
		h("X-Hydra-Instance", s.Instance)
	}
	names := make([]string, 0, len(m.Headers))
	for k := range m.Headers {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		v := m.Headers[k]
		if strings.ContainsAny(k+v, "\r\n") {
			return nil, fmt.Errorf("header %s holds a line break", k)
		}
		h(k, mime.QEncoding.Encode("utf-8", v))
	}
	b.WriteString("\r\n")
	w := quotedprintable.NewWriter(&b)
	if _, err := w.Write([]byte(strings.ReplaceAll(m.Body, "\n", "\r\n"))); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// deliver runs one SMTP transaction, bounded by ctx.
func (s *Sender) deliver(ctx context.Context, from, to string, msg []byte) error {
	host, _, _ := net.SplitHostPort(s.Server)
	tlsConfig := &tls.Config{ServerName: host, MinVersion: tls.VersionTLS12}
	var (
		conn net.Conn
		err  error
	)
	switch s.TLS {
	case "", "starttls":
		conn, err = (&net.Dialer{}).DialContext(ctx, "tcp", s.Server)
	case "ssl":
		conn, err = (&tls.Dialer{Config: tlsConfig}).DialContext(ctx, "tcp", s.Server)
	default:
		return fmt.Errorf("EMAIL_SENDER_TRANSPORT_ssl %q: want starttls or ssl", s.TLS)
	}
	if err != nil {
		return err
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	c, err := smtp.NewClient(conn, host)
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.Hello("buildledger"); err != nil {
		return err
	}
	if ok, _ := c.Extension("STARTTLS"); ok && s.TLS != "ssl" {
		if err := c.StartTLS(tlsConfig); err != nil {
			return err
		}
	} else if s.TLS == "starttls" {
		return errors.New("the SMTP server does not offer STARTTLS")
	}
	if s.Username != "" {
		if err := c.Auth(smtp.PlainAuth("", s.Username, s.Password, host)); err != nil {
			return fmt.Errorf("SMTP authentication: %w", withoutAddresses(err))
		}
	}
	if err := c.Mail(from); err != nil {
		return err
	}
	if err := c.Rcpt(to); err != nil {
		return err
	}
	w, err := c.Data()
	if err != nil {
		return err
	}
	if _, err := w.Write(msg); err != nil {
		return err
	}
	if err := w.Close(); err != nil {
		return err
	}
	return c.Quit()
}

// withoutAddresses keeps an SMTP reply's code and drops its text, which
// often quotes the recipient: the error is recorded in the log, which
// keeps no personal data.
func withoutAddresses(err error) error {
	var reply *textproto.Error
	if errors.As(err, &reply) {
		return fmt.Errorf("the SMTP server answered %d", reply.Code)
	}
	return err
}
