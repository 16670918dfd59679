// Package backbones lists the pretrained backbones the project ships under
// models/backbones/<name>/ (ONNX file, licence, provenance, sha256) and
// finds them in a registry folder. The sha256 recorded here is the one the
// file must have: a backbone that differs is refused when it is opened.
package backbones

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"

	"github.com/pruefplatz/pruefplatz/inspector/embed"
)

// Dir is the folder of the backbones inside a model registry root.
const Dir = "backbones"

// Folder is where the backbones are: dir when given; else the registry
// root's backbones/ when it has one; else the repository's models/backbones,
// so a registry kept elsewhere still finds the backbone the project ships.
func Folder(dir, registry string) string {
	if dir != "" {
		return dir
	}
	if d := filepath.Join(registry, Dir); isDir(d) {
		return d
	}
	return filepath.Join("models", Dir)
}

func isDir(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.IsDir()
}

// MobileNetV2 is the name of MobileNetV2 1.0/224 (ImageNet).
const MobileNetV2 = "mobilenet-v2"

// None is the --backbone value for the from-scratch CNN.
const None = "none"

type known struct {
	file, sha256, license, source string
}

var shipped = map[string]known{
	MobileNetV2: {
		file:    "mobilenet_v2_1.0_224.onnx",
		sha256:  "026bb482725abaa66e21e803c273908a7eec3e3b67c38352f2b09f17811deb75",
		license: "Apache-2.0",
		source:  "google-coral/test_data@104342d2d3480b3e66203073dac24f4e2dbb4c41 mobilenet_v2_1.0_224_quant.tflite, dequantized to float32 ONNX",
	},
}

// ErrUnknown is returned by Get for a name the project does not ship.
var ErrUnknown = errors.New("unknown backbone")

// Names lists the shipped backbones.
func Names() []string {
	var n []string
	for k := range shipped {
		n = append(n, k)
	}
	sort.Strings(n)
	return n
}

// Get returns the backbone name as it lies in dir, the backbones folder
// (for example "models/backbones"): dir/<name>/<file>. It does not read the
// file; embed.Backbone.Verify (called by onnx.OpenBackbone) does. It returns
// an error wrapping ErrUnknown for a name not in Names.
func Get(dir, name string) (embed.Backbone, error) {
	k, ok := shipped[name]
	if !ok {
		return embed.Backbone{}, fmt.Errorf("%w %q (have %v, or %q for the from-scratch CNN)", ErrUnknown, name, Names(), None)
	}
	return embed.Backbone{Name: name, File: filepath.Join(dir, name, k.file), SHA256: k.sha256, License: k.license, Source: k.source}, nil
}
