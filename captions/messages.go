package captions

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"
)

// Message types on the caption WebSockets (docs/ARCHITECTURE.md, "HTTP contract").
const (
	typePartial = "partial"
	typeFinal   = "final"
	typeCorrect = "correct"
	typeAck     = "ack"
	typeError   = "error"
	typeCue     = "cue"
	typeBacklog = "backlog"
	typeStatus  = "status"
)

// ErrBadMessage is a captioner message the server cannot use.
var ErrBadMessage = errors.New("bad message")

// inMsg is a captioner -> server message after validation.
type inMsg struct {
	Type string // typePartial, typeFinal or typeCorrect
	Text string // cleaned; may be empty only for a partial (clears the line)
	ID   string // final only, optional
	Seq  uint64 // correct only
}

// decodeCaptionerMessage parses and validates one captioner message. The
// error says what is wrong; it never panics on any input.
func decodeCaptionerMessage(data []byte) (inMsg, error) {
	if !utf8.Valid(data) {
		return inMsg{}, fmt.Errorf("%w: not valid UTF-8", ErrBadMessage)
	}
	var raw struct {
		Type string          `json:"type"`
		Text *string         `json:"text"`
		ID   json.RawMessage `json:"id"`
		Seq  uint64          `json:"seq"`
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&raw); err != nil {
		return inMsg{}, fmt.Errorf("%w: %w", ErrBadMessage, err)
	}
	if dec.More() {
		return inMsg{}, fmt.Errorf("%w: trailing data after the JSON object", ErrBadMessage)
	}
	m := inMsg{Type: raw.Type, Seq: raw.Seq}
	switch raw.Type {
	case typePartial, typeFinal, typeCorrect:
	case "":
		return inMsg{}, fmt.Errorf("%w: missing type", ErrBadMessage)
	default:
		return inMsg{}, fmt.Errorf("%w: unknown type %.40q", ErrBadMessage, raw.Type)
	}
	if raw.Text == nil {
		return m, fmt.Errorf("%w: missing text", ErrBadMessage)
	}
	text, err := cleanText(*raw.Text)
	if err != nil {
		return m, fmt.Errorf("%w: %w", ErrBadMessage, err)
	}
	m.Text = text
	if len(raw.ID) > 0 && string(raw.ID) != "null" {
		id, err := idString(raw.ID)
		if err != nil {
			return m, err
		}
		if m.ID, err = cleanID(id); err != nil {
			return m, fmt.Errorf("%w: %w", ErrBadMessage, err)
		}
	}
	switch m.Type {
	case typeFinal:
		if m.Text == "" {
			return m, fmt.Errorf("%w: empty final", ErrBadMessage)
		}
	case typeCorrect:
		if m.Seq == 0 {
			return m, fmt.Errorf("%w: correct needs seq", ErrBadMessage)
		}
		if m.Text == "" {
			return m, fmt.Errorf("%w: empty correction", ErrBadMessage)
		}
	}
	return m, nil
}

// idString accepts a JSON string or number as a cue id: scripts often send
// counters.
func idString(raw json.RawMessage) (string, error) {
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		return s, nil
	}
	var n json.Number
	if err := json.Unmarshal(raw, &n); err == nil {
		return n.String(), nil
	}
	return "", fmt.Errorf("%w: id must be a string or a number", ErrBadMessage)
}

// Server -> client messages.

type cueMsg struct {
	Type  string     `json:"type"` // typeCue
	Lang  string     `json:"lang"`
	Seq   uint64     `json:"seq"`
	Text  string     `json:"text"`
	Final bool       `json:"final"`
	Start time.Time  `json:"start"`
	End   *time.Time `json:"end,omitempty"`
}

// wireCue is a cue as viewers see it (no captioner id).
func wireCue(c Cue) cueMsg {
	m := cueMsg{Type: typeCue, Lang: c.Lang, Seq: c.Seq, Text: c.Text, Final: c.Final, Start: c.Start}
	if !c.End.IsZero() {
		end := c.End
		m.End = &end
	}
	return m
}

type backlogMsg struct {
	Type string   `json:"type"` // typeBacklog
	Lang string   `json:"lang"`
	Cues []cueMsg `json:"cues"`
}

type ackMsg struct {
	Type string `json:"type"` // typeAck
	ID   string `json:"id,omitempty"`
	Seq  uint64 `json:"seq"`
	// Duplicate is true when the final's id was already stored.
	Duplicate bool `json:"duplicate,omitempty"`
}

type errorMsg struct {
	Type  string `json:"type"` // typeError
	Error string `json:"error"`
	ID    string `json:"id,omitempty"`
	Seq   uint64 `json:"seq,omitempty"`
}

// CaptionerInfo describes one captioner holding a language.
type CaptionerInfo struct {
	Session string    `json:"session"`
	Name    string    `json:"name"`
	Via     string    `json:"via"` // "ws", "youtube", "zoom" or "demo"
	Since   time.Time `json:"since"`
}

type statusMsg struct {
	Type       string          `json:"type"` // typeStatus
	Lang       string          `json:"lang"`
	Viewers    int             `json:"viewers"`
	Captioners []CaptionerInfo `json:"captioners"`
	Seq        uint64          `json:"seq"` // the last final's seq
	You        string          `json:"you,omitempty"`
}
