package captions

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// demoScript is what --demo captions: the same lines in English, French and
// Arabic (right-to-left), one line every few seconds, looping.
func demoScript() map[string][]string {
	return map[string][]string{
		"en": {
			"Welcome to the relay demo.",
			"These captions are typed live by a captioner, one word at a time.",
			"Each language is a separate stream: pick yours in the player.",
			"Finished lines are stored on disk before anyone sees them.",
			"You can download the whole transcript as SRT, WebVTT or TTML.",
			"Thank you for watching. The demo starts again in a moment.",
		},
		"fr": {
			"Bienvenue dans la démo du relais.",
			"Ces sous-titres sont saisis en direct par un sous-titreur, mot à mot.",
			"Chaque langue est un flux distinct : choisissez la vôtre dans le lecteur.",
			"Les lignes terminées sont écrites sur disque avant d'être diffusées.",
			"Vous pouvez télécharger toute la transcription en SRT, WebVTT ou TTML.",
			"Merci de votre attention. La démo recommence dans un instant.",
		},
		"ar": {
			"مرحبا بكم في العرض التجريبي للمرحّل.",
			"يكتب هذه الترجمات مترجم مباشر، كلمة بعد كلمة.",
			"لكل لغة بث مستقل: اختر لغتك في المشغل.",
			"تحفظ الأسطر المكتملة على القرص قبل أن يراها أحد.",
			"يمكنك تنزيل النص الكامل بصيغة SRT أو WebVTT أو TTML.",
			"شكرا لمتابعتكم. يبدأ العرض من جديد بعد لحظات.",
		},
	}
}

const (
	demoLine = 4 * time.Second        // one line's typing time
	demoStep = 250 * time.Millisecond // partial update period
	demoGap  = time.Second            // pause after a final
)

// RunDemo loops the sample captions in English, French and Arabic into room,
// through the same hub path as a WebSocket captioner (partials growing word
// by word, then a durable final). It returns nil when ctx ends or the
// service closes, or an error if the room cannot take captions.
func RunDemo(ctx context.Context, s *Service, room string) error {
	if !s.begin() {
		return ErrClosed
	}
	defer s.wg.Done()
	script := demoScript()
	demoOrder := []string{"en", "fr", "ar"}
	hubs := make(map[string]*langHub, len(demoOrder))
	since := serverNow()
	for _, l := range demoOrder {
		info := CaptionerInfo{Session: "demo-" + l, Name: "demo", Via: "demo", Since: since}
		h, err := s.attach(room, l, func(h *langHub) { h.seenLocked(info.Session, info) })
		if err != nil {
			return fmt.Errorf("demo: %w", err)
		}
		hubs[l] = h
	}
	log := s.log.With("room", room)
	ticker := time.NewTicker(demoStep)
	defer ticker.Stop()
	for line := 0; ; line = (line + 1) % len(script["en"]) {
		began := time.Now()
		for {
			select {
			case <-ctx.Done():
				return nil
			case <-s.ctx.Done():
				return nil
			case <-ticker.C:
			}
			progress := float64(time.Since(began)) / float64(demoLine)
			for _, l := range demoOrder {
				hubs[l].seen("demo-"+l, CaptionerInfo{Session: "demo-" + l, Name: "demo", Via: "demo", Since: since})
				words := strings.Fields(script[l][line])
				n := min(len(words), int(progress*float64(len(words)))+1)
				if progress < 1 {
					hubs[l].partialLine(strings.Join(words[:n], " "))
				}
			}
			if progress >= 1 {
				break
			}
		}
		for _, l := range demoOrder {
			hubs[l].final(script[l][line], "", time.Time{}, func(_ uint64, _ bool, err error) {
				if err != nil {
					log.Warn("demo: final not stored", "lang", l, "err", err)
				}
			})
		}
		select {
		case <-ctx.Done():
			return nil
		case <-s.ctx.Done():
			return nil
		case <-time.After(demoGap):
		}
	}
}
