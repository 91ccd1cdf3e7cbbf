package player

import (
	"encoding/json"
	"io/fs"
	"maps"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// uiLangs are the interface languages (static/js/i18n.js UI_LANGS), with
// the plural categories Intl.PluralRules gives for each (CLDR): a string
// with a count needs every one of them.
var uiLangs = map[string][]string{
	"ar":      {"zero", "one", "two", "few", "many", "other"},
	"en":      {"one", "other"},
	"es":      {"one", "many", "other"},
	"fr":      {"one", "many", "other"},
	"ru":      {"one", "few", "many", "other"},
	"zh-Hans": {"other"},
}

var (
	// data-i18n="key" and data-i18n-attr="attr:key;attr:key" in markup,
	// and the same in modules that build elements or set them.
	markupKey  = regexp.MustCompile(`data-i18n="([^"]+)"|dataset\.i18n = '([^']+)'`)
	markupAttr = regexp.MustCompile(`data-i18n-attr="([^"]+)"|dataset\.i18nAttr = '([^']+)'`)
	// t('key' in modules: keys are literals, so this finds them all.
	scriptKey   = regexp.MustCompile(`\bt\(\s*'([a-z0-9_.-]+)'`)
	placeholder = regexp.MustCompile(`\{(\w+)\}`)
)

// usedKeys finds every key the pages and modules use, with where.
func usedKeys(t *testing.T) map[string]string {
	t.Helper()
	used := map[string]string{}
	err := fs.WalkDir(files, "static", func(path string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() && path == "static/vendor" {
			return fs.SkipDir // third-party code (hls.js): no keys of ours, and its minified t('…') calls are not
		}
		if err != nil || d.IsDir() || !(strings.HasSuffix(path, ".html") || strings.HasSuffix(path, ".js")) {
			return err
		}
		b, err := fs.ReadFile(files, path)
		if err != nil {
			return err
		}
		src := string(b)
		for _, m := range markupKey.FindAllStringSubmatch(src, -1) {
			used[m[1]+m[2]] = path
		}
		for _, m := range markupAttr.FindAllStringSubmatch(src, -1) {
			for _, pair := range strings.Split(m[1]+m[2], ";") {
				if _, key, ok := strings.Cut(pair, ":"); ok {
					used[strings.TrimSpace(key)] = path
				}
			}
		}
		for _, m := range scriptKey.FindAllStringSubmatch(src, -1) {
			used[m[1]] = path
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return used
}

// placeholders of a catalogue entry (a string, or plural forms).
func placeholders(v any) []string {
	var out []string
	add := func(s string) {
		for _, m := range placeholder.FindAllStringSubmatch(s, -1) {
			out = append(out, m[1])
		}
	}
	switch e := v.(type) {
	case string:
		add(e)
	case map[string]any:
		for _, s := range e {
			if s, ok := s.(string); ok {
				add(s)
			}
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// Every catalogue has every key the pages use, nothing else, in the
// right shape: a non-empty string, or every plural form its language
// needs; and the same {placeholders} as English.
func TestCataloguesComplete(t *testing.T) {
	used := usedKeys(t)
	if len(used) < 20 {
		t.Fatalf("only %d interface keys found in the pages: the key patterns no longer match the code", len(used))
	}
	cats := map[string]map[string]any{}
	for lang := range uiLangs {
		b, err := fs.ReadFile(files, "static/i18n/"+lang+".json")
		if err != nil {
			t.Fatalf("%s: %v", lang, err)
		}
		var cat map[string]any
		if err := json.Unmarshal(b, &cat); err != nil {
			t.Fatalf("%s.json: %v", lang, err)
		}
		cats[lang] = cat
	}
	for _, lang := range slices.Sorted(maps.Keys(uiLangs)) {
		cat := cats[lang]
		for _, key := range slices.Sorted(maps.Keys(used)) {
			v, ok := cat[key]
			if !ok {
				t.Errorf("%s.json has no %q (used in %s)", lang, key, used[key])
				continue
			}
			switch e := v.(type) {
			case string:
				if strings.TrimSpace(e) == "" {
					t.Errorf("%s.json: %q is empty", lang, key)
				}
			case map[string]any:
				for _, cat := range uiLangs[lang] {
					if s, _ := e[cat].(string); strings.TrimSpace(s) == "" {
						t.Errorf("%s.json: %q has no plural form %q", lang, key, cat)
					}
				}
			default:
				t.Errorf("%s.json: %q is %T, want a string or plural forms", lang, key, v)
			}
			if lang != "en" {
				if got, want := placeholders(v), placeholders(cats["en"][key]); !slices.Equal(got, want) {
					t.Errorf("%s.json: %q has placeholders %v, English %v", lang, key, got, want)
				}
			}
		}
		for key := range cat {
			if _, ok := used[key]; !ok {
				t.Errorf("%s.json: %q is used by no page", lang, key)
			}
		}
	}
}
