// Package notify delivers what activities queued in the outbox: e-mail
// through SMTP and escalation alerts to a webhook. Activities only write the
// outbox (keyed, so a retry queues nothing twice); the dispatcher sends, so
// a mail server or webhook outage delays a message and loses none.
package notify

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/wneessen/go-mail"

	"github.com/kamflow/kamflow/internal/store"
)

// Dispatcher drains the outbox. Several workers may run one each: the store
// leases every message to one sender.
type Dispatcher struct {
	Store *store.Store
	// SMTP sends mail; nil leaves mail in the outbox, where the console shows it.
	SMTP *SMTP
	// WebhookURL receives escalation alerts as JSON; empty sends none.
	WebhookURL string
	HTTP       *http.Client
	Logger     *slog.Logger
	// Every is the polling interval.
	Every time.Duration
}

// Run sends until ctx ends.
func (d *Dispatcher) Run(ctx context.Context) {
	var channels []string
	if d.SMTP != nil {
		channels = append(channels, store.ChannelMail)
	}
	if d.WebhookURL != "" {
		channels = append(channels, store.ChannelWebhook)
	}
	if len(channels) == 0 {
		return
	}
	t := time.NewTicker(d.Every)
	defer t.Stop()
	for {
		if err := d.Once(ctx, channels); err != nil && ctx.Err() == nil {
			d.Logger.Warn("outbox", "error", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Once sends one batch of pending messages of channels.
func (d *Dispatcher) Once(ctx context.Context, channels []string) error {
	msgs, err := d.Store.PendingMail(ctx, 50, channels...)
	if err != nil {
		return err
	}
	for _, m := range msgs {
		sendErr := d.send(ctx, m)
		if sendErr != nil {
			d.Logger.Warn("delivery failed, will retry", "outbox_id", m.ID, "channel", m.Channel, "error", sendErr)
		}
		if err := d.Store.MarkMailSent(ctx, m.ID, sendErr); err != nil {
			return err
		}
	}
	return nil
}

func (d *Dispatcher) send(ctx context.Context, m store.Mail) error {
	switch m.Channel {
	case store.ChannelWebhook:
		return d.post(ctx, m)
	case store.ChannelMail:
		return d.SMTP.Send(ctx, m)
	}
	return fmt.Errorf("unknown outbox channel %q", m.Channel)
}

func (d *Dispatcher) post(ctx context.Context, m store.Mail) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.WebhookURL, bytes.NewReader([]byte(m.Body)))
	if err != nil {
		return fmt.Errorf("webhook request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	// Receivers deduplicate on this: a lost acknowledgement means a resend.
	req.Header.Set("Idempotency-Key", m.ID)
	resp, err := d.HTTP.Do(req)
	if err != nil {
		return fmt.Errorf("webhook: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		return fmt.Errorf("webhook answered %s", resp.Status)
	}
	return nil
}

// SMTP is a mail server from KAM_SMTP_URL.
type SMTP struct {
	host     string
	port     int
	user     string
	password string
	from     string
	implicit bool
	tls      mail.TLSPolicy
}

// ParseSMTP reads smtp://user:pass@host:587?from=kam@example.com (STARTTLS
// required; add &tls=opportunistic or &tls=none for a local relay) or
// smtps://... (TLS from the first byte).
func ParseSMTP(raw string) (*SMTP, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "smtp" && u.Scheme != "smtps") || u.Hostname() == "" {
		return nil, errors.New("KAM_SMTP_URL: want smtp://user:password@host:587?from=kam@example.com, or smtps:// for TLS from the start")
	}
	s := &SMTP{host: u.Hostname(), implicit: u.Scheme == "smtps", from: u.Query().Get("from")}
	s.port = 587
	if s.implicit {
		s.port = 465
	}
	if p := u.Port(); p != "" {
		if s.port, err = strconv.Atoi(p); err != nil {
			return nil, fmt.Errorf("KAM_SMTP_URL: port %q is not a number", p)
		}
	}
	if u.User != nil {
		s.user = u.User.Username()
		s.password, _ = u.User.Password()
	}
	if s.from == "" {
		return nil, errors.New("KAM_SMTP_URL: add ?from=address: the sender of kamflow's mail")
	}
	switch u.Query().Get("tls") {
	case "", "mandatory":
		s.tls = mail.TLSMandatory
	case "opportunistic":
		s.tls = mail.TLSOpportunistic
	case "none":
		s.tls = mail.NoTLS
	default:
		return nil, fmt.Errorf("KAM_SMTP_URL: tls=%q: want mandatory, opportunistic or none", u.Query().Get("tls"))
	}
	return s, nil
}

// Send delivers one message.
func (s *SMTP) Send(ctx context.Context, m store.Mail) error {
	msg := mail.NewMsg()
	if err := msg.From(s.from); err != nil {
		return fmt.Errorf("from %s: %w", s.from, err)
	}
	if err := msg.To(m.Recipient); err != nil {
		return fmt.Errorf("to %s: %w", m.Recipient, err)
	}
	msg.Subject(m.Subject)
	msg.SetBodyString(mail.TypeTextPlain, m.Body)
	msg.SetMessageID()
	opts := []mail.Option{mail.WithPort(s.port), mail.WithTimeout(15 * time.Second)}
	if s.implicit {
		opts = append(opts, mail.WithSSL())
	} else {
		opts = append(opts, mail.WithTLSPolicy(s.tls))
	}
	if s.user != "" {
		opts = append(opts, mail.WithSMTPAuth(mail.SMTPAuthAutoDiscover), mail.WithUsername(s.user), mail.WithPassword(s.password))
	}
	c, err := mail.NewClient(s.host, opts...)
	if err != nil {
		return fmt.Errorf("smtp client: %w", err)
	}
	if err := c.DialAndSendWithContext(ctx, msg); err != nil {
		return fmt.Errorf("smtp %s:%d: %w", s.host, s.port, err)
	}
	return nil
}
