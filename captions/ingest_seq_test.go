package captions

// The seq rules of HTTP ingest, as attacks and accidents: a huge seq must not
// make the stream swallow later posts, a restarted tool's lower seqs are
// stored, an exact retry is stored once, a same seq with another body is a
// new post; all of it also across a restart of the Service.

import (
	"log/slog"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/relay-av/relay/internal/auth"
	"github.com/relay-av/relay/internal/testkit"
)

// ingestStyle posts to one ingest style of room r1, language en.
type ingestStyle struct {
	name string
	url  func(tok, seq string) string
	body func(text string) string // a body that stores text as one final
}

var ingestStyles = []ingestStyle{
	{styleYouTube,
		func(tok, seq string) string { return "/closedcaption?cid=" + tok + "&seq=" + seq },
		func(text string) string { return ytStamp(time.Now()) + "\n" + text + "\n" }},
	{styleZoom,
		func(tok, seq string) string { return "/captions/r1/post?token=" + tok + "&seq=" + seq },
		func(text string) string { return text + "\n" }},
}

// ingestClient posts as one captioning tool; e changes when the Service
// restarts.
type ingestClient struct {
	t   *testing.T
	e   *env
	st  ingestStyle
	tok string
}

func newIngestClient(t *testing.T, e *env, st ingestStyle) *ingestClient {
	return &ingestClient{t: t, e: e, st: st, tok: e.token(auth.RoleCaptioner, "r1", "en")}
}

func (c *ingestClient) post(seq, body string) (int, string) {
	c.t.Helper()
	resp, reply := c.e.do(c.t, http.MethodPost, c.st.url(c.tok, seq), "text/plain", body)
	return resp.StatusCode, strings.TrimSpace(reply)
}

// mustPost posts body and fails unless the answer is want.
func (c *ingestClient) mustPost(seq, body string, want int) string {
	c.t.Helper()
	code, reply := c.post(seq, body)
	if code != want {
		if len(body) > 40 {
			body = body[:40] + "..."
		}
		c.t.Fatalf("%s post seq=%s %q: %d %q, want %d", c.st.name, seq, body, code, reply, want)
	}
	return reply
}

func (c *ingestClient) texts() []string {
	var out []string
	if r := c.e.svc.existingRoom("r1"); r != nil {
		if h := r.existing("en"); h != nil {
			for _, cue := range h.transcript() {
				out = append(out, cue.Text)
			}
		}
	}
	return out
}

func (c *ingestClient) wantTexts(want ...string) {
	c.t.Helper()
	if got := c.texts(); strings.Join(got, "|") != strings.Join(want, "|") {
		c.t.Fatalf("stored %q, want %q", got, want)
	}
}

func (c *ingestClient) lastSeq() uint64 {
	return c.e.svc.existingRoom("r1").existing("en").lastSeq(c.st.name)
}

// restart closes the Service and starts a new one on the same DataDir.
func (c *ingestClient) restart(mod func(*Config)) {
	c.e.close()
	c.e = newEnv(c.t, c.e.dir, mod)
}

// TestIngestSeqCannotSwallow is the attack: a captioner token posting a huge
// seq made every later post answer 200 and store nothing, across restarts.
// Now a seq above 2^53 or jumping more than 1 000 000 is refused, and a high
// accepted seq does not hide the lower ones that follow.
func TestIngestSeqCannotSwallow(t *testing.T) {
	for _, st := range ingestStyles {
		t.Run(st.name, func(t *testing.T) {
			c := newIngestClient(t, newEnv(t, "", nil), st)
			if reply := c.mustPost("18446744073709551615", st.body("Attack."), 400); !strings.Contains(reply, "2^53") {
				t.Errorf("huge seq answer %q does not say why", reply)
			}
			c.mustPost("9007199254740993", st.body("Above 2^53."), 400)
			c.mustPost("5000000", st.body("High."), 200) // a stream's first seq may be high
			c.mustPost("1", st.body("One."), 200)
			c.mustPost("1000001", st.body("Far."), 200) // a jump of exactly 1 000 000 is taken
			c.mustPost("2", st.body("Two."), 200)
			if reply := c.mustPost("1000003", st.body("Jump."), 400); !strings.Contains(reply, "jumps") {
				t.Errorf("jump answer %q does not say why", reply)
			}
			c.wantTexts("High.", "One.", "Far.", "Two.")
			c.restart(nil)
			c.mustPost("3", st.body("Three."), 200)
			c.wantTexts("High.", "One.", "Far.", "Two.", "Three.")
			if got := c.lastSeq(); got != 3 {
				t.Fatalf("last seq %d, want 3", got)
			}
		})
	}
}

// TestIngestSeqToolRestart: a captioning tool restarts and counts from 1
// again. Its posts were acknowledged and dropped; now they are stored, the
// seq endpoint follows the tool, and the restart is logged once, not per
// post.
func TestIngestSeqToolRestart(t *testing.T) {
	for _, st := range ingestStyles {
		t.Run(st.name, func(t *testing.T) {
			logs := &testkit.LockedBuffer{}
			withLog := func(c *Config) { c.Logger = slog.New(slog.NewTextHandler(logs, nil)) }
			c := newIngestClient(t, newEnv(t, "", withLog), st)
			var want []string
			for i := 1; i <= 20; i++ {
				text := "Line " + strconv.Itoa(i) + "."
				c.mustPost(strconv.Itoa(i), st.body(text), 200)
				want = append(want, text)
			}
			c.mustPost("1", st.body("Again one."), 200)
			c.mustPost("2", st.body("Again two."), 200)
			c.mustPost("1", st.body("Third run one."), 200) // restarted once more
			want = append(want, "Again one.", "Again two.", "Third run one.")
			c.wantTexts(want...)
			if got := c.lastSeq(); got != 1 {
				t.Fatalf("last seq %d, want 1", got)
			}
			if st.name == styleZoom {
				if got := c.e.get(t, "/captions/r1/post/seq?token="+c.tok, 200); got != "1" {
					t.Fatalf("post/seq = %q, want 1", got)
				}
			}
			if n := strings.Count(logs.String(), "ingest seq went back"); n != 1 {
				t.Fatalf("the restarts were logged %d times, want once", n)
			}
			c.restart(nil)
			c.mustPost("2", st.body("Third run two."), 200)
			c.wantTexts(append(want, "Third run two.")...)
		})
	}
}

// TestIngestSeqRetry: an exact retry (same seq, same body) is acknowledged
// and stored once; the same seq with another body is a restarted tool's new
// post and is stored; the recent posts survive a restart of the Service.
func TestIngestSeqRetry(t *testing.T) {
	for _, st := range ingestStyles {
		t.Run(st.name, func(t *testing.T) {
			c := newIngestClient(t, newEnv(t, "", nil), st)
			a, b := st.body("First."), st.body("Other first.")
			c.mustPost("1", a, 200)
			c.mustPost("1", a, 200)
			c.mustPost("1", b, 200)
			c.mustPost("1", b, 200)
			c.wantTexts("First.", "Other first.")
			bodies := map[int]string{}
			want := []string{"First.", "Other first."}
			for i := 2; i <= 17; i++ {
				bodies[i] = st.body("Line " + strconv.Itoa(i) + ".")
				c.mustPost(strconv.Itoa(i), bodies[i], 200)
				want = append(want, "Line "+strconv.Itoa(i)+".")
			}
			c.restart(nil)
			c.mustPost("17", bodies[17], 200)
			c.mustPost("10", bodies[10], 200)
			c.mustPost("2", bodies[2], 200)
			c.wantTexts(want...)
			if got := c.lastSeq(); got != 17 {
				t.Fatalf("last seq after retries %d, want 17", got)
			}
			// Sixteen posts later, seq 1 is out of the window: the same body
			// again is taken as new.
			c.mustPost("1", b, 200)
			c.wantTexts(append(want, "Other first.")...)
		})
	}
}

// TestZoomRetryOfRunningTextAfterRestart: a Zoom post that only grows the
// running line, retried after a restart of the Service, must not grow it
// twice.
func TestZoomRetryOfRunningTextAfterRestart(t *testing.T) {
	c := newIngestClient(t, newEnv(t, "", nil), ingestStyles[1])
	c.mustPost("1", "Hello every", 200)
	c.restart(nil)
	c.mustPost("1", "Hello every", 200)
	c.mustPost("2", "one.", 200)
	c.wantTexts("Hello every one.")
}

// TestIngestOldJournalAttack: a journal written before the rule, whose last
// seq is the attack's 2^64-1, still loads; the stream takes posts again.
func TestIngestOldJournalAttack(t *testing.T) {
	dir := t.TempDir()
	line, err := encodeRecord(record{T: recIngest, Lang: "en", Style: styleZoom, N: math.MaxUint64, Pending: "Half a"})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "captions"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "captions", "r1.journal"), line, 0o644); err != nil {
		t.Fatal(err)
	}
	c := newIngestClient(t, newEnv(t, dir, nil), ingestStyles[1])
	if got := c.lastSeq(); got != math.MaxUint64 {
		t.Fatalf("restored last seq %d", got)
	}
	c.mustPost("1", "sentence.", 200)
	c.wantTexts("Half a sentence.")
}

// TestZoomPostCueCap is the attack of one 59 KB Zoom-style post of 10 000
// lines: it stored 10 000 cues at once and disconnected every caption viewer
// as too slow. It is refused with 413, stores nothing, and the viewer stays.
func TestZoomPostCueCap(t *testing.T) {
	e := newEnv(t, "", func(c *Config) { c.Languages = func(string) []string { return []string{"en"} } })
	v := e.viewer("r1", "en")
	v.readType(typeBacklog)
	c := newIngestClient(t, e, ingestStyles[1])
	attack := strings.Repeat("abcde\n", 10_000)
	if len(attack) > maxBodySize {
		t.Fatalf("attack body of %d bytes is over the body limit", len(attack))
	}
	if reply := c.mustPost("1", attack, 413); !strings.Contains(reply, "at most 100 captions per post; send them in several posts") {
		t.Errorf("answer %q", reply)
	}
	c.mustPost("2", strings.Repeat("x\n", maxPostCues+1), 413)
	c.wantTexts()
	if got := c.lastSeq(); got != 0 {
		t.Fatalf("a refused post moved the seq to %d", got)
	}
	// The viewer is still connected, and the first thing it gets is the next
	// post, which has exactly the cap.
	c.mustPost("3", strings.Repeat("y\n", maxPostCues), 200)
	for i := 0; i < maxPostCues; i++ {
		if m := v.readNot(typeStatus); m.Text != "y" || !m.Final {
			t.Fatalf("cue %d: %+v", i, m)
		}
	}
	if n := len(c.texts()); n != maxPostCues {
		t.Fatalf("%d cues stored, want %d", n, maxPostCues)
	}
}
