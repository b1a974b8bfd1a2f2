package dream

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Asset is an uploaded image, served publicly by its key. Assets live in
// the replicated database so that every region serves them.
type Asset struct {
	// Key is NewAssetKey's.
	Key         string    `json:"key"`
	PlatformID  string    `json:"platformId"`
	ContentType string    `json:"contentType"`
	Data        []byte    `json:"data"`
	CreatedAt   time.Time `json:"createdAt"`
}

// NewAssetKey is the key of an image a platform uploads at now:
// "{platformId}/{unix ms}-{16 random hex digits}-{file name}", the file name
// kept to characters safe in a URL path. The random part makes two uploads
// of one name in one millisecond two assets, never a conflict.
func NewAssetKey(platformID, filename string, now time.Time) string {
	return platformID + "/" + strconv.FormatInt(now.UnixMilli(), 10) + "-" + randomHex(8) + "-" + safeFilename(filename)
}

// maxAssetFilename bounds the file name kept in an asset's key.
const maxAssetFilename = 100

// safeFilename keeps the characters of a file name that are safe in a URL
// path and replaces the others with "_", keeping at most the last
// maxAssetFilename.
func safeFilename(name string) string {
	name = strings.Map(func(c rune) rune {
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-' {
			return c
		}
		return '_'
	}, name)
	if len(name) > maxAssetFilename {
		name = name[len(name)-maxAssetFilename:]
	}
	return name
}

// MaxAssetSize is the largest image accepted, in bytes.
const MaxAssetSize = 5 << 20

// imageTypes are the content types an asset may have, as sniffed from its
// bytes: the uploader's word for it is never trusted, so nothing served
// from the API's origin can be a script or a page.
var imageTypes = map[string]bool{"image/png": true, "image/jpeg": true, "image/gif": true, "image/webp": true}

// Errors of an upload.
var (
	ErrAssetMissing  = Errorf(KindInvalid, "Missing filename or data", "Send a filename and the image's data")
	ErrAssetTooLarge = Errorf(KindTooLarge, "File too large", "Images may be at most 5 MB")
	ErrAssetType     = Errorf(KindInvalid, "Unsupported file type", "Only PNG, JPEG, WebP and GIF images are accepted")
)

// NewAsset is the asset of an image a platform uploads at now, or why it
// is refused: no name or bytes, more than MaxAssetSize, or bytes that are
// not a PNG, JPEG, GIF or WebP image.
func NewAsset(platformID, filename string, data []byte, now time.Time) (Asset, error) {
	if filename == "" || len(data) == 0 {
		return Asset{}, ErrAssetMissing
	}
	if len(data) > MaxAssetSize {
		return Asset{}, ErrAssetTooLarge
	}
	contentType := http.DetectContentType(data)
	if !imageTypes[contentType] {
		return Asset{}, ErrAssetType
	}
	return Asset{Key: NewAssetKey(platformID, filename, now), PlatformID: platformID, ContentType: contentType,
		Data: data, CreatedAt: now}, nil
}

// URL is the path the asset is served at, what a product's imageUrl holds.
func (a Asset) URL() string { return AssetPath + a.Key }

// UploadAsset stores an image of the developer's for their products.
func (c *Console) UploadAsset(ctx context.Context, p *Platform, filename string, data []byte) (Asset, error) {
	asset, err := NewAsset(p.ID, filename, data, c.Now())
	if err != nil {
		return Asset{}, err
	}
	return asset, c.Writer.Write(ctx, PutAsset{Asset: asset}, nil)
}
