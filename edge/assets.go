package edge

import (
	"encoding/base64"
	"errors"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"

	"github.com/dream-api/dream"
)

// maxAssetSize is the largest image accepted.
const maxAssetSize = 5 << 20

// maxAssetBody bounds an upload request: the image base64-encoded in JSON,
// or in a multipart form, with room for the rest of the request.
const maxAssetBody = maxAssetSize*4/3 + 64<<10

// imageTypes are the content types an asset may have, as sniffed from its
// bytes: the client's word for it is never trusted, so nothing served from
// the API's origin can be a script or a page.
var imageTypes = map[string]bool{"image/png": true, "image/jpeg": true, "image/gif": true, "image/webp": true}

var (
	errAssetMissing  = dream.Errorf(dream.KindInvalid, "Missing filename or data", "Send a filename and the image's data")
	errAssetTooLarge = dream.Errorf(dream.KindTooLarge, "File too large", "Images may be at most 5 MB")
	errAssetType     = dream.Errorf(dream.KindInvalid, "Unsupported file type", "Only PNG, JPEG, WebP and GIF images are accepted")
)

// handleUploadAsset stores an image for the developer's products: POST
// /api/assets, as JSON {filename, contentType?, data: base64} or as a
// multipart form with a "file" part.
func (s *Server) handleUploadAsset(w http.ResponseWriter, r *http.Request, req *request) error {
	filename, data, err := readUpload(w, r)
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		return errAssetTooLarge
	}
	if err != nil {
		return err
	}
	if filename == "" || len(data) == 0 {
		return errAssetMissing
	}
	if len(data) > maxAssetSize {
		return errAssetTooLarge
	}
	contentType := http.DetectContentType(data)
	if !imageTypes[contentType] {
		return errAssetType
	}
	now := s.now()
	platformID := req.platformID()
	asset := dream.Asset{
		Key:         dream.NewAssetKey(platformID, filename, now),
		PlatformID:  platformID,
		ContentType: contentType,
		Data:        data,
		CreatedAt:   now,
	}
	if err := s.writer.Write(r.Context(), dream.PutAsset{Asset: asset}, nil); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]string{"key": asset.Key, "url": "/api/assets/" + asset.Key})
	return nil
}

// readUpload reads the file name and bytes of an upload in either form.
func readUpload(w http.ResponseWriter, r *http.Request) (string, []byte, error) {
	mediaType, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if mediaType == "multipart/form-data" {
		r.Body = http.MaxBytesReader(w, r.Body, maxAssetBody)
		file, header, err := r.FormFile("file")
		if errors.Is(err, http.ErrMissingFile) {
			return "", nil, errAssetMissing
		}
		if err != nil {
			var tooLarge *http.MaxBytesError
			if errors.As(err, &tooLarge) {
				return "", nil, err
			}
			return "", nil, dream.Errorf(dream.KindInvalid, "Invalid form", "The request must be a multipart form with a file part")
		}
		defer file.Close()
		data, err := io.ReadAll(io.LimitReader(file, maxAssetSize+1))
		return header.Filename, data, err
	}
	var body struct {
		Filename string `json:"filename"`
		Data     string `json:"data"`
	}
	if err := decodeJSONUpTo(w, r, &body, maxAssetBody); err != nil {
		if dream.ErrorKind(err) == dream.KindTooLarge {
			return "", nil, errAssetTooLarge
		}
		return "", nil, err
	}
	// A data URL's header ("data:image/png;base64,") is accepted and
	// dropped: the type comes from the bytes.
	if strings.HasPrefix(body.Data, "data:") {
		if _, rest, ok := strings.Cut(body.Data, ","); ok {
			body.Data = rest
		}
	}
	data, err := base64.StdEncoding.DecodeString(body.Data)
	if err != nil {
		return "", nil, dream.Errorf(dream.KindInvalid, "Invalid base64 data", "data must be the image's bytes in base64")
	}
	return body.Filename, data, nil
}

// handleAsset serves an uploaded image to anyone: GET /api/assets/*key.
// Keys are unique and content never changes under a key, so the answer is
// cacheable for good.
func (s *Server) handleAsset(w http.ResponseWriter, r *http.Request, req *request) error {
	key := strings.TrimPrefix(req.params.ByName("key"), "/")
	asset, err := s.db.Asset(r.Context(), key)
	if err != nil {
		return err
	}
	if asset == nil {
		return dream.Errorf(dream.KindNotFound, "Not found", "No asset has this key")
	}
	h := w.Header()
	h.Set("Content-Type", asset.ContentType)
	h.Set("Content-Length", strconv.Itoa(len(asset.Data)))
	h.Set("Cache-Control", "public, max-age=31536000, immutable")
	w.WriteHeader(http.StatusOK)
	w.Write(asset.Data)
	return nil
}
