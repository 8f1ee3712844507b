package mysite

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash/fnv"
	"image"
	"image/color"
	"math/rand/v2"
)

// Photo operations a job may ask for (stage 9). Each is real CPU work on a
// real image, so that a worker's throughput is a measured number and a
// burst of jobs is a real load, not a sleep.
const (
	OpBlur    = "blur"
	OpSharpen = "sharpen"
	OpCrop    = "crop"
)

// PhotoOps are the operations in the order a job without one is given them
// (by its photo id's hash).
var PhotoOps = []string{OpBlur, OpSharpen, OpCrop}

// DefaultPhotoSize is the side in pixels of the image a job works on: about
// 10 ms of one core for a blur on the lab's machines.
const DefaultPhotoSize = 160

// ProcessPhoto makes the photo's image (the same pixels for the same photo
// id, as if read from storage), applies op and returns a digest of the
// result: what a worker records as the job's effect.
func ProcessPhoto(photo, op string, size int) (string, error) {
	if size < 8 || size > 4096 {
		return "", fmt.Errorf("photo size %d out of range 8..4096", size)
	}
	img := photoPixels(photo, size)
	var out *image.RGBA
	switch op {
	case OpBlur:
		out = convolve(img, [9]int{1, 2, 1, 2, 4, 2, 1, 2, 1}, 16)
		out = convolve(out, [9]int{1, 2, 1, 2, 4, 2, 1, 2, 1}, 16)
	case OpSharpen:
		out = convolve(img, [9]int{0, -1, 0, -1, 5, -1, 0, -1, 0}, 1)
	case OpCrop:
		// The centre half, scaled back to the full size (nearest pixel).
		out = image.NewRGBA(img.Rect)
		q := size / 4
		for y := range size {
			for x := range size {
				out.SetRGBA(x, y, img.RGBAAt(q+x/2, q+y/2))
			}
		}
	default:
		return "", fmt.Errorf("unknown photo operation %q (want %s, %s or %s)", op, OpBlur, OpSharpen, OpCrop)
	}
	sum := sha256.Sum256(out.Pix)
	return hex.EncodeToString(sum[:8]), nil
}

// DefaultOp is the operation of a job that names none: one of PhotoOps,
// chosen by the photo id.
func DefaultOp(photo string) string {
	h := fnv.New32a()
	h.Write([]byte(photo))
	return PhotoOps[h.Sum32()%uint32(len(PhotoOps))]
}

func photoPixels(photo string, size int) *image.RGBA {
	h := fnv.New64a()
	h.Write([]byte(photo))
	r := rand.New(rand.NewPCG(h.Sum64(), 0x5ca1e1ab))
	img := image.NewRGBA(image.Rect(0, 0, size, size))
	for i := range img.Pix {
		img.Pix[i] = uint8(r.Uint32())
	}
	return img
}

// convolve applies a 3x3 kernel (divided by div) to every pixel; the edge
// pixels repeat outward.
func convolve(src *image.RGBA, k [9]int, div int) *image.RGBA {
	b := src.Rect
	dst := image.NewRGBA(b)
	clampX := func(x int) int { return min(max(x, b.Min.X), b.Max.X-1) }
	clampY := func(y int) int { return min(max(y, b.Min.Y), b.Max.Y-1) }
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			var r, g, bl int
			for i := range 9 {
				c := src.RGBAAt(clampX(x+i%3-1), clampY(y+i/3-1))
				r += k[i] * int(c.R)
				g += k[i] * int(c.G)
				bl += k[i] * int(c.B)
			}
			dst.SetRGBA(x, y, color.RGBA{clamp8(r / div), clamp8(g / div), clamp8(bl / div), 255})
		}
	}
	return dst
}

func clamp8(v int) uint8 { return uint8(min(max(v, 0), 255)) }
