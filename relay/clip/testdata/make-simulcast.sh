#!/usr/bin/env bash
# make-simulcast.sh regenerates the three simulcast test clips: one 2-second
# scene (ffmpeg's moving testsrc2 pattern, rendered at 1280x720 and scaled
# down, as a simulcast encoder does) at three sizes and rates, with the layer
# burnt in as a label when ffmpeg has drawtext and the DejaVu font is there:
#
#   simulcast-720.h264  1280x720, label "720p", ~1.5 Mbit/s
#   simulcast-360.h264   640x360, label "360p", ~500 kbit/s
#   simulcast-180.h264   320x180, label "180p", ~150 kbit/s
#
# Each is H.264 Annex B from libx264: constrained baseline, 30 fps, 60
# frames, an IDR every second (frames 0 and 30; no scene-cut keyframes, no
# B-frames), one slice per frame, SPS and PPS before each IDR, no SEI (x264's
# version banner is removed so the bytes depend on the encoder, not on its
# name). The rate holds through -maxrate/-bufsize (VBV of half a second).
# Together they are about 550 KB. One thread and bit-exact flags make the
# output the same on every run with the same ffmpeg and x264.
#
# Load them with clip.Load(path, 30); simulcast_test.go (in ../) checks the
# frame count, the keyframes and the picture size keyframe.Size reads.
#
# Needs ffmpeg with libx264 (Debian: apt-get install ffmpeg).
# Run from anywhere: relay/clip/testdata/make-simulcast.sh
# Then check them: go test ./relay/clip/
set -euo pipefail

cd "$(dirname "$0")"

command -v ffmpeg >/dev/null || { echo "make-simulcast.sh: ffmpeg not found" >&2; exit 1; }

font=/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf
label=yes
filters=$(ffmpeg -hide_banner -filters 2>/dev/null) # not piped: grep -q would cut ffmpeg short
if ! grep -qw drawtext <<<"$filters" || [ ! -r "$font" ]; then
	echo "make-simulcast.sh: no drawtext filter or no $font; clips are made without a label" >&2
	label=no
fi

# layer HEIGHT WIDTH RATE(kbit/s) writes simulcast-HEIGHT.h264.
layer() {
	local h=$1 w=$2 rate=$3
	local vf="scale=${w}:${h}:flags=bicubic"
	if [ "$label" = yes ]; then
		vf="$vf,drawtext=fontfile=${font}:text=${h}p:fontsize=$((h / 6)):fontcolor=white:box=1:boxcolor=black@0.6:boxborderw=$((h / 60 + 2)):x=w/20:y=h/8"
	fi
	ffmpeg -hide_banner -loglevel error -y \
		-f lavfi -i "testsrc2=size=1280x720:rate=30:duration=2" \
		-vf "$vf,format=yuv420p" -frames:v 60 \
		-c:v libx264 -preset medium -profile:v baseline -threads 1 \
		-b:v "${rate}k" -maxrate "${rate}k" -bufsize "$((rate / 2))k" \
		-g 30 -keyint_min 30 -sc_threshold 0 -bf 0 \
		-x264-params "scenecut=0:slices=1:repeat-headers=1" \
		-bsf:v filter_units=remove_types=6 \
		-map_metadata -1 -fflags +bitexact -flags:v +bitexact \
		-f h264 "simulcast-$h.h264"
	echo "simulcast-$h.h264: $(wc -c <"simulcast-$h.h264") bytes, $(($(wc -c <"simulcast-$h.h264") * 8 / 2000)) kbit/s"
}

layer 720 1280 1500
layer 360 640 500
layer 180 320 150
