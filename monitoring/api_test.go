package monitoring

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/relay-av/relay/relay"
)

// A configured room offers its declared caption languages in /api/rooms
// before any caption activity, so delegates can pick theirs before the
// session starts; a room without declared languages offers none.
func TestAPIRoomsListsDeclaredLanguagesBeforeAnyCue(t *testing.T) {
	s := newStackWith(t, stackOpts{
		rooms:     []relay.RoomConfig{{Name: "plenary"}, {Name: "side"}},
		languages: map[string][]string{"plenary": {"fr", "en", "ar", "en"}},
	})
	resp, err := http.Get(s.url + "/api/rooms")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body snapshotMessage
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatal(err)
	}
	got := map[string][]string{}
	for _, r := range body.Rooms {
		got[r.Name] = []string{}
		for _, c := range r.Captions {
			if !c.Announced || c.Cues != 0 {
				t.Errorf("room %s, %s: announced %v, %d cues", r.Name, c.Lang, c.Announced, c.Cues)
			}
			got[r.Name] = append(got[r.Name], c.Lang)
		}
	}
	if want := []string{"ar", "en", "fr"}; len(got["plenary"]) != 3 || got["plenary"][0] != want[0] || got["plenary"][1] != want[1] || got["plenary"][2] != want[2] {
		t.Errorf("plenary offers %v, want %v", got["plenary"], want)
	}
	if len(got["side"]) != 0 {
		t.Errorf("side offers %v, want none", got["side"])
	}
}
