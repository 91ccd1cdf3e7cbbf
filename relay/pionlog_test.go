package relay

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
)

func TestPionLogs(t *testing.T) {
	var buf bytes.Buffer
	f := newPionLogs(slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo})))
	ice := f.NewLogger("ice")
	if f.NewLogger("ice") != ice {
		t.Error("a second logger for the same scope: every PeerConnection would get its own")
	}
	if f.NewLogger("dtls") == ice {
		t.Error("one logger for two scopes")
	}
	formatted := false
	arg := stringer(func() string { formatted = true; return "x" })
	ice.Warnf("pair %v failed", arg)
	ice.Infof("state %v", arg)
	ice.Debugf("%v", arg)
	ice.Tracef("%v", arg)
	if formatted || buf.Len() != 0 {
		t.Errorf("pion's warnings and below reached an Info log (formatted: %v): %q", formatted, buf.String())
	}
	ice.Errorf("Failed to write packet: %v", "io: read/write on closed pipe")
	out := buf.String()
	if !strings.Contains(out, "level=WARN") || !strings.Contains(out, "component=pion/ice") || !strings.Contains(out, "closed pipe") {
		t.Errorf("pion error logged as %q", out)
	}
}

type stringer func() string

func (s stringer) String() string { return s() }
