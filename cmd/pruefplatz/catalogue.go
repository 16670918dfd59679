package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"gocv.io/x/gocv"

	"github.com/pruefplatz/pruefplatz/inspector"
	"github.com/pruefplatz/pruefplatz/inspector/bolt"
	"github.com/pruefplatz/pruefplatz/inspector/catalogue"
	"github.com/pruefplatz/pruefplatz/inspector/embed"
	"github.com/pruefplatz/pruefplatz/inspector/onnx"
	"github.com/pruefplatz/pruefplatz/inspector/opencv"
	"github.com/pruefplatz/pruefplatz/models/backbones"
)

// defaultCatalogue is the catalogue file beside the default verdict store.
const defaultCatalogue = "station-data/catalogue.db"

// photoLimits bound one catalogue photo: a phone photo is a few MB.
var photoLimits = opencv.Limits{MaxBytes: 16 << 20, MaxPixels: 40_000_000}

// photoEmbedder is the catalogue's Embedder: decode (opencv), preprocess,
// embed (the shared embed.Embedder over the ONNX backbone).
type photoEmbedder struct {
	mu  sync.Mutex // the Embedder and Preprocessor reuse buffers
	e   *embed.Embedder
	pre *opencv.Preprocessor
	b   embed.Backbone
	r   *onnx.Backbone
}

var _ catalogue.Embedder = (*photoEmbedder)(nil)

// openPhotoEmbedder opens the backbone of the registry root (see
// backbones.Folder), verifying its sha256. Init must
// have been called. Close releases the session.
func openPhotoEmbedder(root, name string, threads int) (*photoEmbedder, error) {
	b, err := backbones.Get(backbones.Folder("", root), name)
	if err != nil {
		return nil, err
	}
	r, err := onnx.OpenBackbone(b, onnx.Options{Threads: threads})
	if err != nil {
		return nil, err
	}
	spec := embed.Spec(catalogueResize, nil)
	e, err := embed.New(r, spec, 4*catalogueViews)
	if err != nil {
		r.Close()
		return nil, err
	}
	pre, err := opencv.NewPreprocessor(spec)
	if err != nil {
		r.Close()
		return nil, err
	}
	return &photoEmbedder{e: e, pre: pre, b: b, r: r}, nil
}

func (p *photoEmbedder) Close() {
	p.pre.Close()
	p.r.Close()
}

func (p *photoEmbedder) Backbone() string     { return p.b.SHA256 + "+" + catalogueFeatures }
func (p *photoEmbedder) BackboneName() string { return p.b.Name }

// catalogueFeatures names how a photo becomes its catalogue vector; it is
// part of the key the vectors are stored under, so changing it re-embeds
// the catalogue as a new backbone does. "upright-blur-sil16": the part
// segmented and turned upright, softened (viewBlur), the mean embedding of
// the view and its half turn, joined with the 16×16 silhouette
// (catalogue.PhotoVector); "+shape6": and the part's catalogue.Shape
// (with its bore, its ring, its holes of like size and its finish) after
// them, which the index compares apart;
// "+seg2": segmented again with the light evened out where the outline
// runs through the table (opencv.UprightPart).
const catalogueFeatures = "upright-blur-sil16+shape6+seg2"

// viewBlur is the Gaussian sigma, in pixels of the 224-pixel upright view,
// the view is softened by before the backbone embeds it.
const viewBlur = 1.5

// catalogueViews is how many views of the upright part are pooled into its
// embedding: as it lies and turned by a half turn, since the upright view
// is only defined up to one. The turn keeps handedness, so left and right
// parts stay apart.
const catalogueViews = 2

// catalogueResize: the upright view is square already; a photo in which no
// part was found keeps its centre square.
const catalogueResize = inspector.ResizeCenterCrop

// partMargin is the table left around the upright part on each side, as a
// share of its longer extent, so the outline stays whole.
const partMargin = 0.08

// ShapeLen says that the vectors end in a catalogue.Shape.
func (p *photoEmbedder) ShapeLen() int { return catalogue.ShapeLen }

// Dim is the length of the catalogue vectors.
func (p *photoEmbedder) Dim() int { return catalogue.VectorLen(embed.Dim) }

// Embed implements catalogue.Embedder. JPEGs are kept byte for byte (so
// the same file is recognised when it comes again); other formats are
// stored as JPEG quality 92.
func (p *photoEmbedder) Embed(ctx context.Context, images [][]byte) ([]catalogue.Embedded, error) {
	out := make([]catalogue.Embedded, len(images))
	sils := make([][]float32, len(images))
	shapes := make([]*catalogue.Shape, len(images))
	fines := make([]*catalogue.Fine, len(images))
	p.mu.Lock()
	defer p.mu.Unlock()
	view, turned, mask, small := gocv.NewMat(), gocv.NewMat(), gocv.NewMat(), gocv.NewMat()
	defer view.Close()
	defer turned.Close()
	defer mask.Close()
	defer small.Close()
	cur := -1
	img := gocv.NewMat()
	defer func() { img.Close() }()
	vecs, err := p.e.Embed(ctx, len(images)*catalogueViews, func(k int, dst []float32) error {
		i, v := k/catalogueViews, k%catalogueViews
		if i != cur {
			img.Close()
			m, err := opencv.DecodeImage(images[i], photoLimits)
			if err != nil {
				img = gocv.NewMat()
				return &catalogue.BadImageError{Index: i, Err: err}
			}
			img, cur = m, i
			out[i].JPEG = images[i]
			if !bytes.HasPrefix(images[i], []byte{0xFF, 0xD8, 0xFF}) {
				if out[i].JPEG, err = opencv.EncodeJPEG(img, 92); err != nil {
					return &catalogue.BadImageError{Index: i, Err: fmt.Errorf("%w: %v", inspector.ErrBadImage, err)}
				}
			}
			// The part, not the table: customer photos show it smaller,
			// off-centre and at any angle, reference photos as a close-up.
			if opencv.UprightPart(img, partMargin, embed.Size, &view, &mask) {
				shapes[i] = opencv.PartShape(view, mask)
				fines[i] = opencv.PartFine(view, mask, shapes[i])
				// The backbone sees the view softened a little: a sharp
				// catalogue close-up and a blurred phone photo of the
				// same part then look more alike to it.
				gocv.GaussianBlur(view, &img, image.Pt(0, 0), viewBlur, viewBlur, gocv.BorderReplicate)
				gocv.Resize(mask, &small, image.Pt(catalogue.SilhouetteGrid, catalogue.SilhouetteGrid), 0, 0, gocv.InterpolationArea)
				b, err := small.DataPtrUint8()
				if err != nil {
					return err
				}
				sils[i] = make([]float32, len(b))
				for j, x := range b {
					sils[i][j] = float32(x) / 255
				}
			}
		}
		if v == 0 {
			return p.pre.Run(img, dst)
		}
		gocv.Rotate(img, &turned, gocv.Rotate180Clockwise)
		return p.pre.Run(turned, dst)
	})
	if err != nil {
		var bad *catalogue.BadImageError
		if errors.As(err, &bad) {
			return nil, bad
		}
		return nil, err
	}
	for i := range out {
		e := make([]float32, embed.Dim)
		for _, w := range vecs[i*catalogueViews : (i+1)*catalogueViews] {
			for j, x := range w {
				e[j] += x
			}
		}
		embed.Normalize(e)
		out[i].Vector = catalogue.PhotoVector(e, sils[i], shapes[i])
		out[i].Fine = fines[i]
	}
	return out, nil
}

var _ catalogue.Verifier = (*photoEmbedder)(nil)

// Fine implements catalogue.Verifier: the part segmented and turned
// upright as Embed does, without the backbone. The photos are measured on
// two goroutines (segmenting is most of a search's verification).
func (p *photoEmbedder) Fine(ctx context.Context, images [][]byte) ([]*catalogue.Fine, error) {
	out := make([]*catalogue.Fine, len(images))
	errs := make([]error, len(images))
	var wg sync.WaitGroup
	next := make(chan int)
	for range min(2, len(images)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			view, mask := gocv.NewMat(), gocv.NewMat()
			defer view.Close()
			defer mask.Close()
			for i := range next {
				img, err := opencv.DecodeImage(images[i], photoLimits)
				if err != nil {
					errs[i] = &catalogue.BadImageError{Index: i, Err: err}
					continue
				}
				if opencv.UprightPart(img, partMargin, embed.Size, &view, &mask) {
					out[i] = opencv.PartFine(view, mask, opencv.PartShape(view, mask))
				}
				img.Close()
			}
		}()
	}
	for i := range images {
		if ctx.Err() != nil {
			break
		}
		next <- i
	}
	close(next)
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return out, errors.Join(errs...)
}

// catalogueFlags are the flags every catalogue command shares.
type catalogueFlags struct {
	file, models, backbone string
	threads                int
}

func (f *catalogueFlags) register(cmd *cobra.Command) {
	cmd.PersistentFlags().StringVar(&f.file, "catalogue", defaultCatalogue, "catalogue file (bbolt)")
	cmd.PersistentFlags().StringVar(&f.models, "models", "models", "model registry folder (holds backbones/)")
	cmd.PersistentFlags().StringVar(&f.backbone, "backbone", backbones.MobileNetV2, "pretrained backbone: "+fmt.Sprint(backbones.Names()))
	cmd.PersistentFlags().IntVar(&f.threads, "threads", 2, "ONNX Runtime threads")
}

// openedCatalogue is a catalogue service with what it owns.
type openedCatalogue struct {
	svc   *catalogue.Service
	store *bolt.Catalogue
	emb   *photoEmbedder
}

func (o *openedCatalogue) Close() error {
	o.svc.Close()
	o.emb.Close()
	return o.store.Close()
}

// openCatalogue opens the store and the backbone and loads the service.
// Photos without a vector for the backbone are embedded before it returns
// when wait is set (CLI), else in the background (serve).
func openCatalogue(cmd *cobra.Command, f catalogueFlags, wait bool) (*openedCatalogue, error) {
	lib, err := ortLibPath(cmd)
	if err != nil {
		return nil, err
	}
	if err := onnx.Init(lib); err != nil {
		return nil, err
	}
	emb, err := openPhotoEmbedder(f.models, f.backbone, f.threads)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(f.file), 0o755); err != nil {
		emb.Close()
		return nil, err
	}
	st, err := bolt.OpenCatalogue(f.file)
	if err != nil {
		emb.Close()
		return nil, err
	}
	svc, err := catalogue.NewService(st, emb, catalogue.Options{})
	if err != nil {
		st.Close()
		emb.Close()
		return nil, err
	}
	o := &openedCatalogue{svc: svc, store: st, emb: emb}
	if wait {
		svc.Start(cmd.Context())
		svc.Wait()
	}
	return o, nil
}

func currentUser() string {
	if u := os.Getenv("USER"); u != "" {
		return u
	}
	return "cli"
}

func newCatalogueCmd() *cobra.Command {
	var f catalogueFlags
	cmd := &cobra.Command{
		Use:   "catalogue",
		Short: "The spare-part catalogue sales searches with customers' photos",
		Long: `catalogue manages the spare-part catalogue: parts (part number, name, description,
attributes) with reference photos, kept in one bbolt file (--catalogue, default
` + defaultCatalogue + `, the file serve uses). A photo is searched by its backbone embedding
against every reference photo; a part's score is its best photo's cosine similarity, and an
answer below the threshold (calibrated leave-one-part-out on the catalogue) is "not in the
catalogue". No training is involved: a part is searchable once added.`,
	}
	f.register(cmd)
	cmd.AddCommand(newCatImportCmd(&f), newCatAddCmd(&f), newCatListCmd(&f), newCatShowCmd(&f),
		newCatRemoveCmd(&f), newCatSearchCmd(&f), newCatEvalCmd(&f))
	return cmd
}

func newCatImportCmd(f *catalogueFlags) *cobra.Command {
	var partsCSV string
	cmd := &cobra.Command{
		Use:   "import DIR [--parts parts.csv]",
		Short: "Import an ImageFolder DIR/<part number>/<photo> with an optional parts list",
		Long: `import adds every folder DIR/<part number>/ as a part with its photos as reference photos.
--parts names a CSV with the columns part_number, name, description, attributes
("key=value;key=value", e.g. material=steel;mirror_of=BRR-7050). With a parts list every
folder must name a listed part. Bad rows, unknown part numbers, parts already in the
catalogue and unreadable photos are named and skipped; the rest is imported, each part in
its own transaction.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var parts map[string]catalogue.Part
			if partsCSV != "" {
				fh, err := os.Open(partsCSV)
				if err != nil {
					return err
				}
				var problems []string
				parts, problems, err = catalogue.ParsePartsCSV(fh)
				fh.Close()
				if err != nil {
					return err
				}
				for _, p := range problems {
					fmt.Fprintln(cmd.ErrOrStderr(), "skipped:", p)
				}
			}
			o, err := openCatalogue(cmd, *f, true)
			if err != nil {
				return err
			}
			defer o.Close()
			start := time.Now()
			rep, err := o.svc.ImportDir(cmd.Context(), args[0], parts, currentUser(), func(done, total int, num string) {
				if num != "" {
					fmt.Fprintf(cmd.OutOrStdout(), "[%d/%d] %s\n", done+1, total, num)
				}
			})
			for _, p := range rep.Problems {
				fmt.Fprintln(cmd.ErrOrStderr(), "skipped:", p)
			}
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "imported %d parts with %d photos in %.1fs into %s (%d problems)\n",
				rep.Parts, rep.Photos, time.Since(start).Seconds(), f.file, len(rep.Problems))
			return nil
		},
	}
	cmd.Flags().StringVar(&partsCSV, "parts", "", "parts list CSV: part_number,name,description,attributes")
	return cmd
}

func newCatAddCmd(f *catalogueFlags) *cobra.Command {
	var p catalogue.Part
	var attrs []string
	cmd := &cobra.Command{
		Use:   "add NUMBER --name NAME PHOTO...",
		Short: "Add a part with its reference photos",
		Args:  cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			p.Number, p.Active, p.AddedBy = args[0], true, currentUser()
			for _, a := range attrs {
				k, v, ok := strings.Cut(a, "=")
				if !ok {
					return fmt.Errorf("--attr %q: want key=value", a)
				}
				if p.Attributes == nil {
					p.Attributes = map[string]string{}
				}
				p.Attributes[k] = v
			}
			var imgs [][]byte
			for _, path := range args[1:] {
				b, err := os.ReadFile(path)
				if err != nil {
					return err
				}
				imgs = append(imgs, b)
			}
			o, err := openCatalogue(cmd, *f, true)
			if err != nil {
				return err
			}
			defer o.Close()
			start := time.Now()
			if err := o.svc.AddPart(cmd.Context(), p, imgs, 1, 0, "upload"); err != nil {
				var bad *catalogue.BadImageError
				if errors.As(err, &bad) {
					return fmt.Errorf("%s: %w", args[1+bad.Index], bad.Err)
				}
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "added %s (%s) with %d photos in %.2fs\n", p.Number, p.Name, len(imgs), time.Since(start).Seconds())
			return nil
		},
	}
	cmd.Flags().StringVar(&p.Name, "name", "", "part name (required)")
	cmd.Flags().StringVar(&p.Description, "description", "", "description")
	cmd.Flags().StringArrayVar(&attrs, "attr", nil, "attribute key=value (repeatable)")
	return cmd
}

// openStoreOnly opens the catalogue file without the backbone, for the
// commands that only read or delete.
func openStoreOnly(f *catalogueFlags) (*bolt.Catalogue, error) {
	if _, err := os.Stat(f.file); err != nil {
		return nil, fmt.Errorf("catalogue %s: %w", f.file, err)
	}
	return bolt.OpenCatalogue(f.file)
}

func newCatListCmd(f *catalogueFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List the catalogue's parts",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			st, err := openStoreOnly(f)
			if err != nil {
				return err
			}
			defer st.Close()
			parts, err := st.Parts()
			if err != nil {
				return err
			}
			w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "NUMBER\tNAME\tPHOTOS\tACTIVE\tADDED BY")
			for _, p := range parts {
				_, photos, _ := st.Part(p.Number)
				fmt.Fprintf(w, "%s\t%s\t%d\t%v\t%s\n", p.Number, p.Name, len(photos), p.Active, p.AddedBy)
			}
			return w.Flush()
		},
	}
}

func newCatShowCmd(f *catalogueFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "show NUMBER",
		Short: "Show a part with its photos (JSON)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			st, err := openStoreOnly(f)
			if err != nil {
				return err
			}
			defer st.Close()
			p, photos, err := st.Part(args[0])
			if err != nil {
				return err
			}
			enc := json.NewEncoder(cmd.OutOrStdout())
			enc.SetIndent("", "  ")
			return enc.Encode(struct {
				catalogue.Part
				Photos []catalogue.Photo `json:"photos"`
			}{p, photos})
		},
	}
}

func newCatRemoveCmd(f *catalogueFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "remove NUMBER",
		Short: "Remove a part with its photos",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			st, err := openStoreOnly(f)
			if err != nil {
				return err
			}
			defer st.Close()
			if err := st.RemovePart(args[0]); err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), "removed", args[0])
			return nil
		},
	}
}

func newCatSearchCmd(f *catalogueFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "search IMAGE",
		Short: "Find the catalogue parts a photo shows",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			img, err := os.ReadFile(args[0])
			if err != nil {
				return err
			}
			o, err := openCatalogue(cmd, *f, true)
			if err != nil {
				return err
			}
			defer o.Close()
			start := time.Now()
			a, _, err := o.svc.Search(cmd.Context(), img)
			if err != nil {
				return err
			}
			printAnswer(cmd.OutOrStdout(), a, time.Since(start))
			return nil
		},
	}
}

func printAnswer(w io.Writer, a catalogue.Answer, took time.Duration) {
	switch {
	case len(a.Results) == 0:
		fmt.Fprintln(w, "the catalogue is empty")
	case a.NotInCatalogue:
		fmt.Fprintf(w, "NOT IN THE CATALOGUE: the best score %.3f is below the threshold %.3f; nearest parts:\n", a.Score, a.Threshold)
	case a.Results[0].Score < a.Threshold:
		fmt.Fprintf(w, "best match %s (%s), score %.3f: a look-alike in another finish scored %.3f (threshold %.3f), the finish names this one\n", a.Results[0].Part, a.Results[0].Name, a.Results[0].Score, a.Score, a.Threshold)
	default:
		fmt.Fprintf(w, "best match %s (%s), score %.3f (threshold %.3f)\n", a.Results[0].Part, a.Results[0].Name, a.Results[0].Score, a.Threshold)
	}
	if a.MirrorTwins {
		fmt.Fprintf(w, "CHECK THE SIDE: %s and %s are mirror twins (left/right)\n", a.Results[0].Part, a.Results[1].Part)
	}
	for _, la := range a.LookAlikes {
		what := la.Name
		if len(la.Differs) > 0 {
			what = strings.Join(la.Differs, ", ")
		}
		fmt.Fprintf(w, "LOOK-ALIKE: %s has the same shape as %s (%s); check before you confirm\n", a.Results[0].Part, la.Part, what)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "RANK\tNUMBER\tNAME\tSCORE\tBEST PHOTO")
	for i, r := range a.Results {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%.3f\t%.12s\n", i+1, r.Part, r.Name, r.Score, r.Photo)
	}
	tw.Flush()
	fmt.Fprintf(w, "%d reference photos searched in %s\n", a.Photos, took.Round(time.Millisecond))
}

// evalFolder reads DIR/<part>/<photo> as (part, bytes) pairs, sorted.
func evalFolder(dir string) (parts []string, imgs [][]byte, err error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, nil, err
	}
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		files, err := os.ReadDir(filepath.Join(dir, e.Name()))
		if err != nil {
			return nil, nil, err
		}
		for _, fl := range files {
			if fl.IsDir() {
				continue
			}
			b, err := os.ReadFile(filepath.Join(dir, e.Name(), fl.Name()))
			if err != nil {
				return nil, nil, err
			}
			parts, imgs = append(parts, e.Name()), append(imgs, b)
		}
	}
	return parts, imgs, nil
}

// catEval are the figures of `catalogue eval`.
type catEval struct {
	RefParts, RefPhotos       int
	Known, Unknown            int // query photos of parts in / not in the reference set
	Top1, Top5                float64
	FalseNotInCat             float64 // known queries answered "not in the catalogue"
	UnknownRejected           float64 // unknown queries answered "not in the catalogue"
	UnknownQuery              int
	MirrorConfusions          int
	Threshold                 float32
	Calibration               catalogue.Calibration
	TopWrong, TopWrongAccepts int // known queries with a wrong first part; of those above threshold
	// LookAlikeShown counts the known queries whose answer names
	// look-alikes of its first part; LookAlikeNamesTrue those with a wrong
	// first part that name the right part among them.
	LookAlikeShown, LookAlikeNamesTrue int
}

func newCatEvalCmd(f *catalogueFlags) *cobra.Command {
	var ref, query, extra string
	cmd := &cobra.Command{
		Use:   "eval --ref DIR --query DIR [--unknown DIR]",
		Short: "Measure search accuracy and the not-in-catalogue rate on held-out photos",
		Long: `eval builds a catalogue in memory from --ref (DIR/<part>/<photo>), calibrates the
threshold leave-one-part-out on it as serve does, and searches every photo of --query
(and --unknown) DIR/<part>/<photo>. Photos of parts in the reference set count for top-1
and top-5 accuracy and the false "not in the catalogue" rate; photos of parts not in it
count for the "not in the catalogue" rate.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if ref == "" || query == "" {
				return errors.New("--ref and --query are required")
			}
			lib, err := ortLibPath(cmd)
			if err != nil {
				return err
			}
			if err := onnx.Init(lib); err != nil {
				return err
			}
			emb, err := openPhotoEmbedder(f.models, f.backbone, f.threads)
			if err != nil {
				return err
			}
			defer emb.Close()
			// embedAll also keeps each photo's Fine: what a search's
			// verification measures again from the stored JPEG is the same.
			embedAll := func(dir string) ([]string, [][]float32, []*catalogue.Fine, error) {
				parts, imgs, err := evalFolder(dir)
				if err != nil {
					return nil, nil, nil, err
				}
				vecs := make([][]float32, 0, len(imgs))
				fines := make([]*catalogue.Fine, 0, len(imgs))
				for i := 0; i < len(imgs); i += 32 {
					e, err := emb.Embed(cmd.Context(), imgs[i:min(i+32, len(imgs))])
					if err != nil {
						return nil, nil, nil, fmt.Errorf("%s: %w", dir, err)
					}
					for _, x := range e {
						vecs = append(vecs, x.Vector)
						fines = append(fines, x.Fine)
					}
				}
				return parts, vecs, fines, nil
			}
			start := time.Now()
			rp, rv, rf, err := embedAll(ref)
			if err != nil {
				return err
			}
			b := catalogue.NewBuilder(emb.Dim())
			b.Tail = emb.ShapeLen()
			inRef := map[string]bool{}
			for i := range rp {
				b.Add(rp[i], fmt.Sprint(i), rv[i])
				inRef[rp[i]] = true
			}
			ix := b.Build()
			cal := ix.Calibrate(0.05, 0.25)
			qp, qv, qf, err := embedAll(query)
			if err != nil {
				return err
			}
			if extra != "" {
				up, uv, uf, err := embedAll(extra)
				if err != nil {
					return err
				}
				qp, qv, qf = append(qp, up...), append(qv, uv...), append(qf, uf...)
			}
			ev := catEval{RefParts: len(inRef), RefPhotos: len(rp), Threshold: cal.Threshold, Calibration: cal}
			var top1, top5, fnic, urej int
			for i, v := range qv {
				hits := ix.Search(v, 5, nil)
				nic := len(hits) == 0 || hits[0].Score < cal.Threshold
				// As the service does: verify the best parts' best photos.
				alike := catalogue.Verify(hits, cal.Threshold, qf[i], func(h catalogue.Hit) *catalogue.Fine {
					j, err := strconv.Atoi(h.Photo)
					if err != nil {
						return nil
					}
					return ix.WithPart(rf[j], h.Part)
				})
				if !inRef[qp[i]] {
					ev.Unknown++
					if nic {
						urej++
					}
					continue
				}
				ev.Known++
				if nic {
					fnic++
				}
				inTop5 := false
				for r, h := range hits {
					if h.Part == qp[i] {
						if r == 0 {
							top1++
						}
						top5++
						inTop5 = true
					}
				}
				if !inTop5 {
					fmt.Fprintf(cmd.ErrOrStderr(), "not in the best five: %s photo %d\n", qp[i], i)
				}
				if len(alike) > 0 {
					ev.LookAlikeShown++
				}
				if len(hits) > 0 && hits[0].Part != qp[i] {
					for _, h := range alike {
						if h.Part == qp[i] {
							ev.LookAlikeNamesTrue++
						}
					}
					ev.TopWrong++
					if !nic {
						ev.TopWrongAccepts++
					}
					fmt.Fprintf(cmd.ErrOrStderr(), "miss: %s photo %d → %s (%.3f)\n", qp[i], i, hits[0].Part, hits[0].Score)
				}
			}
			if ev.Known > 0 {
				ev.Top1, ev.Top5, ev.FalseNotInCat = frac(top1, ev.Known), frac(top5, ev.Known), frac(fnic, ev.Known)
			}
			if ev.Unknown > 0 {
				ev.UnknownRejected = frac(urej, ev.Unknown)
			}
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "reference: %d parts, %d photos; queries: %d of known parts, %d of parts not in the reference set (%s, %.1fs)\n",
				ev.RefParts, ev.RefPhotos, ev.Known, ev.Unknown, emb.BackboneName(), time.Since(start).Seconds())
			fmt.Fprintf(w, "threshold %.3f (leave-one-part-out: %d known, %d unknown queries; false reject %.1f %%, unknown rejected %.1f %%)\n",
				cal.Threshold, cal.Known, cal.Unknown, 100*cal.FalseReject, 100*cal.Rejected)
			fmt.Fprintf(w, "| metric | value |\n|---|---|\n")
			fmt.Fprintf(w, "| top-1 accuracy (known parts) | %.1f %% |\n", 100*ev.Top1)
			fmt.Fprintf(w, "| top-5 accuracy (known parts) | %.1f %% |\n", 100*ev.Top5)
			fmt.Fprintf(w, "| false \"not in the catalogue\" (known parts) | %.1f %% |\n", 100*ev.FalseNotInCat)
			fmt.Fprintf(w, "| \"not in the catalogue\" (unknown parts) | %.1f %% |\n", 100*ev.UnknownRejected)
			fmt.Fprintf(w, "| wrong first part above the threshold | %d of %d |\n", ev.TopWrongAccepts, ev.Known)
			fmt.Fprintf(w, "| wrong first part, the right one named as its look-alike | %d of %d |\n", ev.LookAlikeNamesTrue, ev.TopWrong)
			fmt.Fprintf(w, "| answers naming look-alikes (known parts) | %d of %d |\n", ev.LookAlikeShown, ev.Known)
			return nil
		},
	}
	cmd.Flags().StringVar(&ref, "ref", "", "reference photos DIR/<part>/<photo>")
	cmd.Flags().StringVar(&query, "query", "", "query photos DIR/<part>/<photo>")
	cmd.Flags().StringVar(&extra, "unknown", "", "more query photos, typically of parts not in --ref")
	return cmd
}

func frac(a, b int) float64 { return float64(a) / float64(b) }

// importDemoCatalogue loads the generated demo catalogue into an empty
// catalogue (serve's first start), logging progress.
func importDemoCatalogue(ctx context.Context, svc *catalogue.Service, dir string, logf func(msg string, args ...any)) error {
	parts, err := svc.Parts()
	if err != nil || len(parts) > 0 {
		return err
	}
	fh, err := os.Open(filepath.Join(dir, "parts.csv"))
	if err != nil {
		return err
	}
	list, problems, err := catalogue.ParsePartsCSV(fh)
	fh.Close()
	if err != nil {
		return err
	}
	for _, p := range problems {
		logf("demo catalogue: skipped", "problem", p)
	}
	last := -1
	rep, err := svc.ImportDir(ctx, filepath.Join(dir, "reference"), list, "demo", func(done, total int, _ string) {
		if tenth := 10 * done / max(total, 1); tenth != last {
			last = tenth
			logf("demo catalogue: importing", "parts", done, "of", total)
		}
	})
	for _, p := range rep.Problems {
		logf("demo catalogue: skipped", "problem", p)
	}
	if err == nil {
		logf("demo catalogue ready", "parts", rep.Parts, "photos", rep.Photos)
	}
	return err
}
