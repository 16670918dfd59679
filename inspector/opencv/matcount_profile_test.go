//go:build matprofile

package opencv

import "gocv.io/x/gocv"

// matCount is the number of live Mats; ok is false without -tags matprofile.
func matCount() (n int, ok bool) { return gocv.MatProfile.Count(), true }
