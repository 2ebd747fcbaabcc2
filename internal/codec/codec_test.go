package codec

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/converter"
)

// key returns a deterministic 32-byte key in base64, different per seed.
func key(seed byte) string {
	return base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{seed}, KeySize))
}

func mustParse(t *testing.T, spec string) *Codec {
	t.Helper()
	c, err := ParseKeys(spec)
	require.NoError(t, err)
	return c
}

type profile struct {
	Name    string `json:"name"`
	Contact string `json:"contact"`
}

func TestRoundTripHidesPlaintext(t *testing.T) {
	c := mustParse(t, "k1:"+key(1))
	dc := converter.NewCodecDataConverter(converter.GetDefaultDataConverter(), c)
	in := profile{Name: "上海华东机电有限公司", Contact: "王芳 wang.fang@example.cn"}
	p, err := dc.ToPayload(in)
	require.NoError(t, err)
	require.Equal(t, Encoding, string(p.Metadata[converter.MetadataEncoding]))
	require.Equal(t, "k1", string(p.Metadata[MetadataKeyID]))
	require.NotContains(t, string(p.Data), "上海")
	require.NotContains(t, string(p.Data), "wang.fang")
	require.Len(t, p.Metadata, 2, "the inner encoding (json/plain) is sealed too")

	var out profile
	require.NoError(t, dc.FromPayload(p, &out))
	require.Equal(t, in, out)

	// Two encryptions of one value differ: a fresh nonce each time.
	p2, err := dc.ToPayload(in)
	require.NoError(t, err)
	require.NotEqual(t, p.Data, p2.Data)
}

func TestRotation(t *testing.T) {
	old := mustParse(t, "k1:"+key(1))
	sealed, err := old.Encode([]*commonpb.Payload{{Metadata: map[string][]byte{"encoding": []byte("json/plain")}, Data: []byte(`"old"`)}})
	require.NoError(t, err)

	// k2 is new and active; k1 stays to read what it sealed.
	rotated := mustParse(t, "k2:"+key(2)+", k1:"+key(1))
	require.Equal(t, "k2", rotated.ActiveKeyID())
	require.Equal(t, []string{"k2", "k1"}, rotated.KeyIDs())
	opened, err := rotated.Decode(sealed)
	require.NoError(t, err)
	require.Equal(t, `"old"`, string(opened[0].Data))

	fresh, err := rotated.Encode(opened)
	require.NoError(t, err)
	require.Equal(t, "k2", string(fresh[0].Metadata[MetadataKeyID]))

	// With k1 dropped too early, the error says which key is missing.
	retired := mustParse(t, "k2:"+key(2))
	_, err = retired.Decode(sealed)
	require.ErrorContains(t, err, `encrypted with key "k1"`)
	require.ErrorContains(t, err, "add that key back to KAM_ENCRYPTION_KEYS")
}

func TestDecodeRefusesTamperingAndPassesPlaintext(t *testing.T) {
	c := mustParse(t, "k1:"+key(1)+",k9:"+key(9))
	plain := &commonpb.Payload{Metadata: map[string][]byte{"encoding": []byte("json/plain")}, Data: []byte(`{"a":1}`)}
	out, err := c.Decode([]*commonpb.Payload{plain})
	require.NoError(t, err)
	require.Same(t, plain, out[0], "payloads from before encryption pass through")

	sealed, err := c.Encode([]*commonpb.Payload{plain})
	require.NoError(t, err)

	flipped := &commonpb.Payload{Metadata: sealed[0].Metadata, Data: bytes.Clone(sealed[0].Data)}
	flipped.Data[len(flipped.Data)-1] ^= 1
	_, err = c.Decode([]*commonpb.Payload{flipped})
	require.ErrorContains(t, err, "authentication failed")

	// Same key material under another id: the id is authenticated too.
	relabelled := &commonpb.Payload{Metadata: map[string][]byte{"encoding": []byte(Encoding), MetadataKeyID: []byte("k9")}, Data: sealed[0].Data}
	_, err = c.Decode([]*commonpb.Payload{relabelled})
	require.ErrorContains(t, err, "authentication failed")

	short := &commonpb.Payload{Metadata: sealed[0].Metadata, Data: []byte("x")}
	_, err = c.Decode([]*commonpb.Payload{short})
	require.ErrorContains(t, err, "too short")

	noID := &commonpb.Payload{Metadata: map[string][]byte{"encoding": []byte(Encoding)}, Data: sealed[0].Data}
	_, err = c.Decode([]*commonpb.Payload{noID})
	require.ErrorContains(t, err, "names no encryption key id")
}

func TestParseKeysErrors(t *testing.T) {
	material := key(7)
	for _, tc := range []struct {
		name, spec, want string
	}{
		{"empty", "  ", "no keys"},
		{"no id", material, "key 1 has no id"},
		{"key before id", material + ":k1", "key 1: the id before ':'"},
		{"bad id", "k 1:" + material, "key 1: the id before ':'"},
		{"empty key", "k1:", "key 1 (k1): the key after ':' is empty"},
		{"not base64", "k1:***", "key 1 (k1): the key is not valid base64"},
		{"short", "k1:" + base64.StdEncoding.EncodeToString([]byte("sixteen bytes!!!")), "the key is 16 bytes, want 32"},
		{"duplicate id", "k1:" + material + ",k1:" + key(8), `key 2: id "k1" is used twice`},
		{"stray comma", "k1:" + material + ",", "key 2 is empty"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseKeys(tc.spec)
			require.ErrorContains(t, err, tc.want)
			require.NotContains(t, err.Error(), material, "errors never quote key material")
			require.NotContains(t, err.Error(), material[:20])
		})
	}

	// Every fault is reported at once.
	_, err := ParseKeys("a:x,b:" + material + ",c")
	require.ErrorContains(t, err, "key 1 (a)")
	require.ErrorContains(t, err, "key 3 has no id")
}

func TestParseKeysAlphabets(t *testing.T) {
	raw := bytes.Repeat([]byte{0xfb}, KeySize) // encodes with '+' and '/' or '-' and '_'
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		c := mustParse(t, "k:"+enc.EncodeToString(raw))
		require.Equal(t, "k", c.ActiveKeyID())
	}
}

func TestGenerateKeysAndPrinting(t *testing.T) {
	spec, err := GenerateKeys("dev-1")
	require.NoError(t, err)
	c := mustParse(t, spec)
	require.Equal(t, "dev-1", c.ActiveKeyID())
	_, material, _ := strings.Cut(spec, ":")
	for _, s := range []string{c.String(), fmt.Sprintf("%v %+v %#v %s", c, c, c, c)} {
		require.NotContains(t, s, material)
		require.Contains(t, s, "dev-1")
	}
	_, err = GenerateKeys("bad id")
	require.Error(t, err)
}
