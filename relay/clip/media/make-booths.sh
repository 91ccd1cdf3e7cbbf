#!/usr/bin/env bash
# make-booths.sh regenerates the interpretation "booth" clips that
# `relay serve --demo` plays as the French and Arabic channels of room demo
# (loaded by clip.Booth in ../clip.go):
#
#   booth-fr.ogg  French interpreter, espeak-ng voice "fr"
#   booth-ar.ogg  Arabic interpreter, espeak-ng voice "ar"
#
# Each is one or two interpreter-style sentences spoken by espeak-ng, with
# 0.3 s of silence before and 1.5 s after so that the clip loops like a
# speaker pausing, encoded by Debian's ffmpeg (libopus) to Ogg Opus, mono,
# 48 kHz, 24 kbit/s, 20 ms frames: about 15 s and under 60 KB each. The
# output is bit-exact (no version tags, fixed Ogg serial number), so running
# the script again with the same espeak-ng and ffmpeg changes no byte.
#
# Needs espeak-ng and ffmpeg (Debian: apt-get install espeak-ng ffmpeg).
# Run from anywhere: relay/clip/media/make-booths.sh
# Then check them: go test ./relay/clip/
set -euo pipefail

cd "$(dirname "$0")"

for tool in espeak-ng ffmpeg; do
	command -v "$tool" >/dev/null || { echo "make-booths.sh: $tool not found" >&2; exit 1; }
done

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# booth LANG VOICE TEXT writes booth-LANG.ogg.
booth() {
	local lang=$1 voice=$2 text=$3
	# 150 words a minute: an interpreter's pace, clearer than the default 175.
	espeak-ng -v "$voice" -s 150 -w "$tmp/$lang.wav" "$text"
	ffmpeg -hide_banner -loglevel error -y -i "$tmp/$lang.wav" \
		-af "adelay=300,apad=pad_dur=1.5,aresample=48000" -ac 1 \
		-c:a libopus -b:a 24k -vbr on -frame_duration 20 -application voip \
		-map_metadata -1 -fflags +bitexact -flags:a +bitexact \
		"booth-$lang.ogg"
	echo "booth-$lang.ogg: $(wc -c <"booth-$lang.ogg") bytes"
}

booth fr fr "Vous écoutez l'interprétation française de la salle de démonstration du relais. \
Choisissez une autre langue dans le menu pour changer de canal, ou revenez à la langue originale de la salle."

# Unvoweled Arabic is mostly read right by espeak-ng; the few words it
# misreads carry their short vowels (tashkeel).
booth ar ar "أنتم تَسْتَمِعُونَ إلى الترجمة الفورية العربية من قاعة العرض التجريبية لِخَادِمِ البث. \
اختاروا لغة أخرى من القائمة لِتَغْيِيرِ القناة، أو عودوا إلى اللغة الأصلية لِلْقَاعَة."
