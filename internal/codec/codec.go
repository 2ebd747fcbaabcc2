// Package codec encrypts Temporal payloads with AES-256-GCM before they
// leave the process, so the Temporal server (its database, its backups, its
// operators) never holds kamflow's customer data in clear: account names,
// contacts, notes and survey comments travel inside workflow inputs,
// signals, activity results and memos.
//
// Every encrypted payload names the key that sealed it in its metadata, so
// keys rotate without a flag day: the first configured key encrypts, every
// configured key decrypts, and a key is retired once no running workflow
// history still holds payloads sealed with it. Payloads that were never
// encrypted (histories from before encryption was switched on) pass through
// unchanged, so switching it on needs no migration.
package codec

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"regexp"
	"strings"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/converter"
	"google.golang.org/protobuf/proto"
)

// Payload metadata written on every encrypted payload. The names follow the
// Temporal samples, so the Temporal CLI and UI tooling recognise them.
const (
	// Encoding is the value of the "encoding" metadata of an encrypted payload.
	Encoding = "binary/encrypted"
	// MetadataKeyID is the metadata entry naming the key that sealed it.
	MetadataKeyID = "encryption-key-id"
	// KeySize is the length of an AES-256 key in bytes.
	KeySize = 32
)

// Codec is a converter.PayloadCodec that seals payloads with AES-256-GCM.
// It is safe for concurrent use. Its String and GoString name the key ids
// only, so a Codec printed by mistake never shows key material.
type Codec struct {
	active string
	ids    []string
	aeads  map[string]cipher.AEAD
}

var _ converter.PayloadCodec = (*Codec)(nil)

// keyID keeps key ids short and printable: they are stored in every payload
// and quoted in error messages.
var keyID = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// ParseKeys reads a key list in the form of KAM_ENCRYPTION_KEYS:
// "id1:base64key1,id2:base64key2", each key 32 bytes of standard or URL-safe
// base64 (padded or not). The first key encrypts; all of them decrypt.
// Errors name the entry by position and id, never its key material.
func ParseKeys(spec string) (*Codec, error) {
	if strings.TrimSpace(spec) == "" {
		return nil, errors.New("no keys: want id:base64-key[,id:base64-key...], e.g. k1:$(openssl rand -base64 32)")
	}
	c := &Codec{aeads: map[string]cipher.AEAD{}}
	var errs []error
	for i, entry := range strings.Split(spec, ",") {
		n := i + 1
		entry = strings.TrimSpace(entry)
		id, b64, ok := strings.Cut(entry, ":")
		id, b64 = strings.TrimSpace(id), strings.TrimSpace(b64)
		switch {
		case entry == "":
			errs = append(errs, fmt.Errorf("key %d is empty (a stray comma?)", n))
			continue
		case !ok:
			errs = append(errs, fmt.Errorf("key %d has no id: want id:base64-key", n))
			continue
		case !keyID.MatchString(id):
			// The id is not quoted: a key pasted in the id's place would end
			// up in a log.
			errs = append(errs, fmt.Errorf("key %d: the id before ':' must be 1-64 letters, digits, '.', '_' or '-' (is the key before the id?)", n))
			continue
		case c.aeads[id] != nil:
			errs = append(errs, fmt.Errorf("key %d: id %q is used twice: every key needs its own id", n, id))
			continue
		}
		key, err := decodeKey(b64)
		if err != nil {
			errs = append(errs, fmt.Errorf("key %d (%s): %w", n, id, err))
			continue
		}
		aead, err := newAEAD(key)
		if err != nil {
			errs = append(errs, fmt.Errorf("key %d (%s): %w", n, id, err))
			continue
		}
		c.aeads[id] = aead
		c.ids = append(c.ids, id)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	c.active = c.ids[0]
	return c, nil
}

// decodeKey accepts the base64 alphabets people paste (openssl's standard
// one, URL-safe from other tools, with or without padding) and insists on
// exactly 32 bytes.
func decodeKey(s string) ([]byte, error) {
	if s == "" {
		return nil, errors.New("the key after ':' is empty: want 32 random bytes in base64 (openssl rand -base64 32)")
	}
	var key []byte
	var err error
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if key, err = enc.DecodeString(s); err == nil {
			break
		}
	}
	if err != nil {
		return nil, errors.New("the key is not valid base64: want 32 random bytes in base64 (openssl rand -base64 32)")
	}
	if len(key) != KeySize {
		return nil, fmt.Errorf("the key is %d bytes, want %d for AES-256 (openssl rand -base64 32)", len(key), KeySize)
	}
	return key, nil
}

func newAEAD(key []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("aes: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("gcm: %w", err)
	}
	return aead, nil
}

// GenerateKeys returns a fresh one-key list in KAM_ENCRYPTION_KEYS form,
// for development stacks and for operators creating their first key.
func GenerateKeys(id string) (string, error) {
	if !keyID.MatchString(id) {
		return "", fmt.Errorf("key id %q: use 1-64 letters, digits, '.', '_' or '-'", id)
	}
	key := make([]byte, KeySize)
	if _, err := rand.Read(key); err != nil {
		return "", fmt.Errorf("generate key %s: %w", id, err)
	}
	return id + ":" + base64.StdEncoding.EncodeToString(key), nil
}

// ActiveKeyID is the id of the key new payloads are sealed with.
func (c *Codec) ActiveKeyID() string { return c.active }

// KeyIDs lists every key id in configuration order, the active one first.
func (c *Codec) KeyIDs() []string { return append([]string(nil), c.ids...) }

// String names the keys, never their material.
func (c *Codec) String() string {
	return fmt.Sprintf("aes-256-gcm codec (encrypts with %s, decrypts %s)", c.active, strings.Join(c.ids, ", "))
}

// GoString keeps %#v from printing the cipher state.
func (c *Codec) GoString() string { return c.String() }

// Encode seals each payload whole (metadata and data) with the active key:
// nonce || ciphertext, the key id bound in as associated data so a payload
// relabelled with another id fails to open.
func (c *Codec) Encode(payloads []*commonpb.Payload) ([]*commonpb.Payload, error) {
	aead := c.aeads[c.active]
	out := make([]*commonpb.Payload, len(payloads))
	for i, p := range payloads {
		plain, err := proto.Marshal(p)
		if err != nil {
			return payloads, fmt.Errorf("encrypt payload: marshal: %w", err)
		}
		sealed := make([]byte, aead.NonceSize(), aead.NonceSize()+len(plain)+aead.Overhead())
		if _, err := rand.Read(sealed); err != nil {
			return payloads, fmt.Errorf("encrypt payload: nonce: %w", err)
		}
		out[i] = &commonpb.Payload{
			Metadata: map[string][]byte{
				converter.MetadataEncoding: []byte(Encoding),
				MetadataKeyID:              []byte(c.active),
			},
			Data: aead.Seal(sealed, sealed, plain, []byte(c.active)),
		}
	}
	return out, nil
}

// Decode opens payloads this codec (with any configured key) sealed and
// passes every other payload through untouched.
func (c *Codec) Decode(payloads []*commonpb.Payload) ([]*commonpb.Payload, error) {
	out := make([]*commonpb.Payload, len(payloads))
	for i, p := range payloads {
		if string(p.GetMetadata()[converter.MetadataEncoding]) != Encoding {
			out[i] = p
			continue
		}
		id := string(p.GetMetadata()[MetadataKeyID])
		aead, ok := c.aeads[id]
		if !ok {
			if id == "" {
				return payloads, errors.New("decrypt payload: it names no encryption key id")
			}
			return payloads, fmt.Errorf("decrypt payload: it was encrypted with key %q, which is not among the configured keys (%s): add that key back to KAM_ENCRYPTION_KEYS after the active one",
				truncate(id, 64), strings.Join(c.ids, ", "))
		}
		data := p.GetData()
		if len(data) < aead.NonceSize()+aead.Overhead() {
			return payloads, fmt.Errorf("decrypt payload (key %s): %d bytes is too short to be a sealed payload", id, len(data))
		}
		nonce, sealed := data[:aead.NonceSize()], data[aead.NonceSize():]
		plain, err := aead.Open(nil, nonce, sealed, []byte(id))
		if err != nil {
			return payloads, fmt.Errorf("decrypt payload (key %s): authentication failed: the key material for %s differs from the one that sealed it, or the payload was altered", id, id)
		}
		var dec commonpb.Payload
		if err := proto.Unmarshal(plain, &dec); err != nil {
			return payloads, fmt.Errorf("decrypt payload (key %s): unmarshal: %w", id, err)
		}
		out[i] = &dec
	}
	return out, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
