package drills

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	querypb "go.temporal.io/api/query/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/kamflow/kamflow/activities"
	"github.com/kamflow/kamflow/internal/codec"
	"github.com/kamflow/kamflow/internal/store"
	"github.com/kamflow/kamflow/internal/testenv"
	"github.com/kamflow/kamflow/workflows"
)

// Customer data of the encryption drill: none of it may reach Temporal in
// clear.
const (
	customerName = "上海华东机电有限公司"
	contactName  = "王芳"
	contactEmail = "wang.fang@huadong-jidian.example.cn"
	customerNote = "客户抱怨交货延迟：请勿外传 confidential-note-7731"
)

// TestPayloadsEncryptedInHistory onboards an account with a Chinese name,
// contact and note through the starter against a worker with payload keys,
// then reads its history, description, memo and a query answer through the
// raw Temporal API, as anyone with access to the Temporal cluster could: no
// customer name, contact or note appears anywhere, and every payload except
// the search attributes is sealed with the deployment's key. The worker's
// /codec endpoint then opens them for ops and senior management only.
func TestPayloadsEncryptedInHistory(t *testing.T) {
	t.Parallel()
	d := newDeployment(t, fastPolicy(), "")
	m, ops, senior := d.id("m1"), d.id("ops"), d.id("senior")
	tokens := d.addManagers(
		store.Manager{ID: senior, Name: "高层 Senior", Email: "senior@example.cn", Role: activities.RoleSenior},
		store.Manager{ID: ops, Name: "运营 Ops", Email: "ops@example.cn", Role: activities.RoleOps},
		store.Manager{ID: m, Name: "张敏", Email: "zhang.min@example.cn", Role: activities.RoleManager},
	)
	w := d.startWorker("worker", nil)

	account := d.id("sh-001")
	r := d.runStarter("start", "--id", account, "--name", customerName, "--manager", m, "--revenue", "60000000",
		"--contact-name", contactName, "--contact-email", contactEmail)
	require.Equal(t, 0, r.code, "%s", r)
	r = d.runStarter("event", "--account", account, "--kind", "note", "--note", customerNote, "--external-id", "n-1")
	require.Equal(t, 0, r.code, "%s", r)
	r = d.runStarter("event", "--account", account, "--kind", "order", "--amount", "50000", "--external-id", "o-1",
		"--note", customerNote+" (order)")
	require.Equal(t, 0, r.code, "%s", r)
	eventually(t, time.Minute, "account engaged with both events recorded", func() (bool, string) {
		n := d.count(`SELECT count(*) FROM account_events WHERE account_id = $1`, account)
		stage := d.strings(`SELECT stage FROM accounts WHERE id = $1`, account)
		return n == 2 && len(stage) == 1 && stage[0] == workflows.StageEngage, strings.Join(stage, ",")
	})
	// The starter decrypts with the same keys: the name comes back.
	r = d.runStarter("status", account)
	require.Equal(t, 0, r.code, "%s", r)
	require.Contains(t, r.stdout, customerName)

	secrets := []string{customerName, contactName, contactEmail, customerNote, "confidential-note-7731", "huadong-jidian"}
	raw, err := client.Dial(client.Options{HostPort: d.temporal}) // no codec: what the server stores
	require.NoError(t, err)
	defer raw.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	wfID := workflows.AccountWorkflowID(account)

	var started *commonpb.Payloads
	sealed, searchAttrs, events := 0, 0, 0
	it := raw.GetWorkflowHistory(ctx, wfID, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() {
		ev, err := it.Next()
		require.NoError(t, err)
		events++
		assertNoPlaintext(t, ev, secrets, "history event %d (%s)", ev.GetEventId(), ev.GetEventType())
		eachPayload(ev.ProtoReflect(), false, func(p *commonpb.Payload, inSearchAttrs bool) {
			if inSearchAttrs {
				searchAttrs++
				return
			}
			sealed++
			require.Equal(t, codec.Encoding, string(p.GetMetadata()[converter.MetadataEncoding]), "event %d (%s) has a payload in clear", ev.GetEventId(), ev.GetEventType())
			require.Equal(t, "drill", string(p.GetMetadata()[codec.MetadataKeyID]))
		})
		if a := ev.GetWorkflowExecutionStartedEventAttributes(); a != nil {
			started = a.GetInput()
		}
	}
	require.Greater(t, events, 10)
	require.Greater(t, sealed, 10, "the history carries payloads, all sealed")
	require.Positive(t, searchAttrs, "search attributes stay readable for the UI's filters")
	require.NotNil(t, started)

	desc, err := raw.DescribeWorkflowExecution(ctx, wfID, "")
	require.NoError(t, err)
	assertNoPlaintext(t, desc, secrets, "workflow description (memo, summary)")
	memo := desc.GetWorkflowExecutionInfo().GetMemo().GetFields()
	require.NotEmpty(t, memo, "the starter sets a memo")
	for k, p := range memo {
		require.Equal(t, codec.Encoding, string(p.GetMetadata()[converter.MetadataEncoding]), "memo %s", k)
	}
	q, err := raw.WorkflowService().QueryWorkflow(ctx, &workflowservice.QueryWorkflowRequest{
		Namespace: "default", Execution: &commonpb.WorkflowExecution{WorkflowId: wfID},
		Query: &querypb.WorkflowQuery{QueryType: workflows.QueryStatus},
	})
	require.NoError(t, err)
	assertNoPlaintext(t, q, secrets, "status query answer")

	// The codec endpoint opens what the history holds, for the right people.
	body, err := protojson.Marshal(started)
	require.NoError(t, err)
	decode := w.url() + "/codec/decode"
	code, out := postCodec(t, decode, tokens[ops], "", body)
	require.Equal(t, http.StatusOK, code, out)
	var opened commonpb.Payloads
	require.NoError(t, protojson.Unmarshal([]byte(out), &opened))
	require.Len(t, opened.GetPayloads(), 1)
	require.Contains(t, string(opened.GetPayloads()[0].GetData()), customerName)
	require.Equal(t, "json/plain", string(opened.GetPayloads()[0].GetMetadata()[converter.MetadataEncoding]))

	code, _ = postCodec(t, decode, tokens[senior], "", body)
	require.Equal(t, http.StatusOK, code, "senior management reads every account")
	code, out = postCodec(t, decode, "", "", body)
	require.Equal(t, http.StatusUnauthorized, code, out)
	require.NotContains(t, out, customerName)
	code, out = postCodec(t, decode, "not-a-token", "", body)
	require.Equal(t, http.StatusUnauthorized, code, out)
	code, out = postCodec(t, decode, tokens[m], "", body)
	require.Equal(t, http.StatusForbidden, code, "a manager sees only their own accounts: %s", out)
	require.NotContains(t, out, customerName)

	// From a browser: the UI's origin is allowed, with credentials; others are not.
	const ui = "http://127.0.0.1:8233"
	code, out = postCodec(t, decode, tokens[ops], "http://evil.example", body)
	require.Equal(t, http.StatusForbidden, code, out)
	req, err := http.NewRequest(http.MethodOptions, decode, nil)
	require.NoError(t, err)
	req.Header.Set("Origin", ui)
	req.Header.Set("Access-Control-Request-Method", "POST")
	req.Header.Set("Access-Control-Request-Headers", "content-type,x-namespace")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	require.NoError(t, resp.Body.Close())
	require.Equal(t, http.StatusNoContent, resp.StatusCode)
	require.Equal(t, ui, resp.Header.Get("Access-Control-Allow-Origin"))
	require.Equal(t, "true", resp.Header.Get("Access-Control-Allow-Credentials"))
	require.Contains(t, resp.Header.Get("Access-Control-Allow-Headers"), "X-Namespace")
	code, out = postCodec(t, decode, tokens[ops], ui, body)
	require.Equal(t, http.StatusOK, code, "the UI's own origin passes the console's cross-origin protection: %s", out)
	// What the UI does with "include credentials": no token, the console's
	// session cookie of someone signed in at the worker.
	for _, who := range []struct {
		id   string
		want int
	}{{ops, http.StatusOK}, {m, http.StatusForbidden}} {
		browser, code := browserSession(t, w.url(), tokens[who.id])
		require.Equal(t, http.StatusSeeOther, code)
		req, err := http.NewRequest(http.MethodPost, decode+"?preserveStorageRefs=true", bytes.NewReader(body))
		require.NoError(t, err)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Namespace", "default")
		req.Header.Set("Origin", ui)
		req.Header.Set("Sec-Fetch-Site", "same-site")
		resp, err := browser.Do(req)
		require.NoError(t, err)
		require.NoError(t, resp.Body.Close())
		require.Equal(t, who.want, resp.StatusCode, "%s's console session", who.id)
		require.Equal(t, ui, resp.Header.Get("Access-Control-Allow-Origin"), "the browser may read the answer, refusals included")
	}

	// Encoding works too (the UI encodes what an operator signals), and
	// what it seals decodes again.
	code, out = postCodec(t, w.url()+"/codec/encode", tokens[ops], "", []byte(`{"payloads":[{"metadata":{"encoding":"anNvbi9wbGFpbg=="},"data":"IuS4iua1tyI="}]}`))
	require.Equal(t, http.StatusOK, code, out)
	require.Contains(t, out, "YmluYXJ5L2VuY3J5cHRlZA==", "binary/encrypted")
	code, out = postCodec(t, decode, tokens[ops], "", []byte(`{"payloads": [`))
	require.Equal(t, http.StatusBadRequest, code, out)
}

// postCodec posts a Payloads JSON body to the codec endpoint.
func postCodec(t *testing.T, url, token, origin string, body []byte) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Namespace", "default")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if origin != "" {
		req.Header.Set("Origin", origin)
		req.Header.Set("Sec-Fetch-Site", "same-site")
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.NoError(t, resp.Body.Close())
	return resp.StatusCode, string(b)
}

// assertNoPlaintext fails when any secret appears anywhere in m's wire
// form: payloads, failure messages, identities, everything.
func assertNoPlaintext(t *testing.T, m proto.Message, secrets []string, where string, args ...any) {
	t.Helper()
	b, err := proto.Marshal(m)
	require.NoError(t, err)
	for _, s := range secrets {
		if bytes.Contains(b, []byte(s)) {
			t.Fatalf("%q in clear in %s", s, fmt.Sprintf(where, args...))
		}
	}
}

var (
	payloadName          = (&commonpb.Payload{}).ProtoReflect().Descriptor().FullName()
	searchAttributesName = (&commonpb.SearchAttributes{}).ProtoReflect().Descriptor().FullName()
)

// eachPayload calls visit for every Payload inside m, saying whether it sits
// in search attributes (which the server must read, so stay in clear).
func eachPayload(m protoreflect.Message, inSearchAttrs bool, visit func(*commonpb.Payload, bool)) {
	name := m.Descriptor().FullName()
	if name == payloadName {
		visit(m.Interface().(*commonpb.Payload), inSearchAttrs)
		return
	}
	inSearchAttrs = inSearchAttrs || name == searchAttributesName
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		switch {
		case fd.IsList() && fd.Kind() == protoreflect.MessageKind:
			for i := 0; i < v.List().Len(); i++ {
				eachPayload(v.List().Get(i).Message(), inSearchAttrs, visit)
			}
		case fd.IsMap() && fd.MapValue().Kind() == protoreflect.MessageKind:
			v.Map().Range(func(_ protoreflect.MapKey, mv protoreflect.Value) bool {
				eachPayload(mv.Message(), inSearchAttrs, visit)
				return true
			})
		case !fd.IsList() && !fd.IsMap() && fd.Kind() == protoreflect.MessageKind:
			eachPayload(v.Message(), inSearchAttrs, visit)
		}
		return true
	})
}

// TestWorkerRefusesPlaintextInProduction: without --dev a worker with no
// payload keys refuses to start unless told plain text is acceptable, and a
// malformed key list is named without echoing key material.
func TestWorkerRefusesPlaintextInProduction(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("drill: needs the built worker binary")
	}
	bin, err := testenv.WorkerBinary()
	require.NoError(t, err)
	base := []string{"PATH=/usr/bin:/bin", "HOME=" + t.TempDir(), "DATABASE_URL=postgres://kam:pw@127.0.0.1:1/kam?sslmode=disable",
		"KAM_SURVEY_SECRET=drill-survey-secret-0123456789abcdefghijkl"}

	r := runBinary(t, bin, base, "--http-addr", "127.0.0.1:0")
	require.Equal(t, 2, r.code, "%s", r)
	require.Contains(t, r.stderr, "KAM_ENCRYPTION_KEYS is not set")
	require.Contains(t, r.stderr, "KAM_ALLOW_PLAINTEXT_PAYLOADS=true")

	material := "c2l4dGVlbiBieXRlcyEhIQ==" // 16 bytes: too short for AES-256
	r = runBinary(t, bin, append(base, "KAM_ENCRYPTION_KEYS=k1:"+material+",oops"), "--http-addr", "127.0.0.1:0")
	require.Equal(t, 2, r.code, "%s", r)
	require.Contains(t, r.stderr, "KAM_ENCRYPTION_KEYS: key 1 (k1): the key is 16 bytes, want 32")
	require.Contains(t, r.stderr, "key 2 has no id")
	require.NotContains(t, r.stderr+r.stdout, material)

	// Told plain text is fine, it gets past the check (and fails on the
	// unreachable database instead).
	r = runBinary(t, bin, append(base, "KAM_ALLOW_PLAINTEXT_PAYLOADS=true"), "--http-addr", "127.0.0.1:0")
	require.Equal(t, 1, r.code, "%s", r)
	require.NotContains(t, r.stderr, "KAM_ENCRYPTION_KEYS")
	require.NotContains(t, r.stderr, ":pw@", "the database password is redacted")
}
