package hls

import "golang.org/x/sys/windows"

// diskSpace returns the bytes free to this user and in all on the volume
// of dir.
func diskSpace(dir string) (free, total int64, err error) {
	p, err := windows.UTF16PtrFromString(dir)
	if err != nil {
		return 0, 0, err
	}
	var avail, all, _free uint64
	if err := windows.GetDiskFreeSpaceEx(p, &avail, &all, &_free); err != nil {
		return 0, 0, err
	}
	return int64(avail), int64(all), nil
}
