package drills

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/kamflow/kamflow/internal/testenv"
	"github.com/kamflow/kamflow/workflows"
)

// chromiumPath is Debian's chromium; the drills never download a browser.
const chromiumPath = "/usr/bin/chromium"

// TestTemporalUIDecodesThroughCodec runs `worker --dev` with its Temporal UI
// and looks at an account's history in a real browser. Anonymous, the UI
// shows sealed payloads only; after signing in to the kamflow console as
// ops in the same browser, the UI (configured by --dev with the worker's
// /codec endpoint and "include credentials") shows the customer's name.
func TestTemporalUIDecodesThroughCodec(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("drill: needs the built binaries and chromium")
	}
	if _, err := os.Stat(chromiumPath); err != nil {
		t.Fatalf("install chromium (scripts/deps.sh test): %v", err)
	}
	worker, err := testenv.WorkerBinary()
	require.NoError(t, err)
	starter, err := testenv.StarterBinary()
	require.NoError(t, err)
	dir := t.TempDir()
	require.NoError(t, os.Chmod(dir, 0o755)) // searchable by the PostgreSQL user when tests run as root
	data := filepath.Join(dir, "data")
	_, uiPort, err := net.SplitHostPort(freeAddr(t))
	require.NoError(t, err)
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir}
	dev := runWorker(t, worker, "worker-dev", dir, env, "--dev", "--data-dir", data, "--dev-temporal-port", "0",
		"--dev-ui-port", uiPort, "--policy", writePolicy(t, dir, fastPolicy()), "--log-format", "json", "--log-level", "debug")
	dev.waitReady(3 * time.Minute)
	starterEnv := append(env, "KAM_DATA_DIR="+data) // dev.env has the rest
	var opsToken string
	for _, args := range [][]string{
		{"managers", "add", "--id", "ops", "--name", "Ops", "--email", "ops@example.com", "--role", "ops", "--json"},
		{"managers", "add", "--id", "m1", "--name", "陈明", "--email", "chen@example.com", "--role", "manager"},
		{"start", "--id", "ui-1", "--name", customerName, "--manager", "m1", "--revenue", "60000000", "--contact-name", contactName},
	} {
		r := runBinary(t, starter, starterEnv, args...)
		require.Equal(t, 0, r.code, "starter %v: %s", args, r)
		if args[0] == "managers" && args[2] == "--id" && args[3] == "ops" {
			_, after, ok := strings.Cut(r.stdout, `"token": "`)
			require.True(t, ok, r.stdout)
			opsToken, _, _ = strings.Cut(after, `"`)
		}
	}

	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromiumPath), chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1280, 900),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelAlloc()
	browser, cancelBrowser := chromedp.NewContext(allocCtx)
	defer cancelBrowser()
	ctx, cancel := context.WithTimeout(browser, 5*time.Minute)
	defer cancel()

	history := fmt.Sprintf("http://127.0.0.1:%s/namespaces/default/workflows/%s", uiPort, workflows.AccountWorkflowID("ui-1"))
	// pageText opens the history and waits for want, reloading now and then:
	// the UI decodes event by event, which takes a while on a busy machine.
	pageText := func(want func(string) bool) string {
		t.Helper()
		var text string
		deadline := time.Now().Add(2 * time.Minute)
		var loaded time.Time
		for {
			if time.Since(loaded) > 30*time.Second {
				require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(history)))
				loaded = time.Now()
			}
			time.Sleep(2 * time.Second)
			text, err = chromedp.Run(ctx, chromedp.Evaluate[string](`document.body.innerText`))
			require.NoError(t, err)
			if want(text) || time.Now().After(deadline) {
				return text
			}
		}
	}
	anonymous := pageText(func(s string) bool { return strings.Contains(s, "ui-1") })
	require.Contains(t, anonymous, "ui-1", "the history page loaded")
	require.NotContains(t, anonymous, customerName, "nobody signed in: the UI cannot decode")

	require.NoError(t, chromedp.Do(ctx,
		chromedp.Navigate(dev.url()+"/signin"),
		chromedp.WaitVisible(chromedp.ID("token")),
		chromedp.SendKeys(chromedp.ID("token"), opsToken),
		chromedp.Click(chromedp.CSS(`form[action="/signin"] button[type=submit]`)),
		chromedp.WaitNotPresent(chromedp.ID("token")),
	), "sign in to the console as ops")
	decoded := pageText(func(s string) bool { return strings.Contains(s, customerName) })
	require.Contains(t, decoded, customerName, "signed in as ops, the UI decodes through /codec:\n%s", tail(decoded, 40))
}
