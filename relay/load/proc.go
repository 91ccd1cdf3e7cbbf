package load

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// clockTicks is USER_HZ, 100 on every Linux this runs on.
const clockTicks = 100

// procSample is a process's CPU time and resident memory at one moment.
type procSample struct {
	at  time.Time
	cpu time.Duration // user + system
	rss int64         // bytes
}

// readProc reads /proc/<pid>/stat ("self" for this process).
func readProc(pid string) (procSample, error) {
	b, err := os.ReadFile("/proc/" + pid + "/stat")
	if err != nil {
		return procSample{}, err
	}
	return parseStat(string(b), time.Now())
}

// parseStat reads utime, stime (fields 14, 15) and rss (field 24, pages)
// from a /proc/PID/stat line. The command name may hold spaces and
// parentheses, so fields are counted from the last ')'.
func parseStat(s string, at time.Time) (procSample, error) {
	end := strings.LastIndexByte(s, ')')
	if end < 0 {
		return procSample{}, fmt.Errorf("proc stat: no command name")
	}
	f := strings.Fields(s[end+1:])
	// f[0] is field 3 (state); field n is f[n-3].
	if len(f) < 22 {
		return procSample{}, fmt.Errorf("proc stat: %d fields", len(f)+2)
	}
	num := func(field int) (int64, error) { return strconv.ParseInt(f[field-3], 10, 64) }
	ut, err1 := num(14)
	st, err2 := num(15)
	rss, err3 := num(24)
	if err1 != nil || err2 != nil || err3 != nil {
		return procSample{}, fmt.Errorf("proc stat: bad numbers")
	}
	return procSample{
		at:  at,
		cpu: time.Duration(ut+st) * time.Second / clockTicks,
		rss: rss * int64(pageSize()),
	}, nil
}

// cores is the CPU used between two samples, in cores.
func cores(a, b procSample) float64 {
	wall := b.at.Sub(a.at)
	if wall <= 0 {
		return 0
	}
	return float64(b.cpu-a.cpu) / float64(wall)
}

func pageSize() int { return os.Getpagesize() }
