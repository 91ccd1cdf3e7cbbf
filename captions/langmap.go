package captions

import (
	"fmt"
	"strings"

	"golang.org/x/text/language"
)

// mapLang maps a language code from captioning software onto the room's
// languages (declared in room config, or live): Zoom sends language-COUNTRY
// codes ("en-US", "zh-CN") and "jp-JP" for Japanese. An exact match wins,
// then the closest room language if x/text/language is at least highly
// confident; otherwise the code's language without its region ("en-US" ->
// "en", "zh-TW" -> "zh-Hant").
func (s *Service) mapLang(room, code string) (string, error) {
	code = strings.TrimSpace(strings.ReplaceAll(code, "_", "-"))
	if low := strings.ToLower(code); low == "jp" || strings.HasPrefix(low, "jp-") {
		code = "ja" + code[2:]
	}
	canon, err := CanonicalLang(code)
	if err != nil {
		return "", err
	}
	tag := language.Make(canon)
	var cands []string
	seen := map[string]bool{}
	for _, l := range s.declared(room) {
		if !seen[l] {
			seen[l] = true
			cands = append(cands, l)
		}
	}
	if r := s.existingRoom(room); r != nil {
		for _, l := range r.languages() {
			if !seen[l] {
				seen[l] = true
				cands = append(cands, l)
			}
		}
	}
	if seen[canon] {
		return canon, nil
	}
	if len(cands) > 0 {
		tags := make([]language.Tag, len(cands))
		for i, c := range cands {
			tags[i] = language.Make(c)
		}
		if _, i, conf := language.NewMatcher(tags).Match(tag); conf >= language.High {
			return cands[i], nil
		}
	}
	return withoutRegion(tag), nil
}

// withoutRegion drops the region (and a script that the language implies).
func withoutRegion(tag language.Tag) string {
	base, _ := tag.Base()
	script, _ := tag.Script()
	plain, err := language.Compose(base)
	if err != nil {
		return tag.String()
	}
	if s, _ := plain.Script(); s == script {
		return plain.String()
	}
	t, err := language.Compose(base, script)
	if err != nil {
		return fmt.Sprint(plain)
	}
	return t.String()
}
