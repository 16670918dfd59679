package datasets

import (
	"fmt"
	"path/filepath"

	"github.com/pruefplatz/pruefplatz/inspector/capture"
)

// ClassSummary says where a class's images came from.
type ClassSummary struct {
	Class  string `json:"class"`
	Images int    `json:"images"`
	// Sessions is the number of capture sessions among the images, Angles
	// the number of distinct angles they were taken at.
	Sessions int `json:"sessions"`
	Angles   int `json:"angles"`
	// Other counts images that did not come from a capture session.
	Other int `json:"other"`
}

// Inspection is what `pruefplatz dataset inspect` shows.
type Inspection struct {
	Root     string             `json:"root"`
	Classes  []ClassSummary     `json:"classes"`
	Sessions []*capture.Session `json:"sessions"`
	Warnings []string           `json:"warnings"`
	Problems []Problem          `json:"problems,omitempty"`
}

// Inspect loads the dataset at dir and summarises per class how many
// images came from how many capture sessions and angles. It warns when a
// class comes from a single session (its test split would hold near copies
// of its training images) or from too few to split by session. It returns
// Load's errors.
func Inspect(dir string) (*Inspection, error) {
	d, err := Load(dir)
	if d == nil {
		return nil, err
	}
	in, ierr := InspectLoaded(d)
	if err != nil { // too few classes to train on, but worth a look
		in.Warnings = append(in.Warnings, err.Error())
	}
	return in, ierr
}

// InspectLoaded is Inspect for a dataset already loaded. It returns an
// error when the sessions folder cannot be read.
func InspectLoaded(d *Dataset) (*Inspection, error) {
	dir := d.Root
	in := &Inspection{Root: dir, Problems: d.Problems, Warnings: []string{}}
	var err error
	type acc struct {
		sessions map[string]bool
		angles   map[int]bool
		sum      ClassSummary
	}
	per := map[string]*acc{}
	for _, s := range d.Samples {
		a := per[s.Class]
		if a == nil {
			a = &acc{sessions: map[string]bool{}, angles: map[int]bool{}, sum: ClassSummary{Class: s.Class}}
			per[s.Class] = a
		}
		a.sum.Images++
		if s.Group == "" {
			a.sum.Other++
			continue
		}
		a.sessions[s.Group] = true
		if _, angle, ok := capture.FrameView(filepath.Base(s.Path)); ok {
			a.angles[angle] = true
		}
	}
	for _, c := range d.Classes {
		a := per[c]
		a.sum.Sessions, a.sum.Angles = len(a.sessions), len(a.angles)
		in.Classes = append(in.Classes, a.sum)
		switch {
		case a.sum.Sessions == 1 && a.sum.Other == 0:
			in.Warnings = append(in.Warnings, fmt.Sprintf("class %s: all %d images come from one capture session: its test split would hold near copies of its training images; capture the class again (another part, another day)", c, a.sum.Images))
		case a.sum.Sessions > 0 && a.sum.Sessions+a.sum.Other < MinGroupsToSplit:
			in.Warnings = append(in.Warnings, fmt.Sprintf("class %s: only %d capture sessions; a split that keeps sessions together needs %d, so this class is split by image", c, a.sum.Sessions, MinGroupsToSplit))
		}
	}
	st := &capture.Store{Root: dir}
	in.Sessions, err = st.List(nil)
	if err != nil {
		return in, err
	}
	for _, s := range in.Sessions {
		if s.State != capture.Done {
			in.Warnings = append(in.Warnings, fmt.Sprintf("session %s (%s): %s with %d of %d frames: %s", s.ID, s.Target.Folder(), s.State, len(s.Frames), s.TargetCount(), s.Reason))
		}
	}
	return in, nil
}
