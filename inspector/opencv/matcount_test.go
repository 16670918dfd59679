//go:build !matprofile

package opencv

// matCount is the number of live Mats; ok is false without -tags matprofile,
// where gocv does not count them.
func matCount() (n int, ok bool) { return 0, false }
