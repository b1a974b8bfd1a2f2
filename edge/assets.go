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

// handleUploadAsset stores an image for the developer's products: POST
// /api/assets, as JSON {filename, contentType?, data: base64} or as a
// multipart form with a "file" part.
func (s *Server) handleUploadAsset(w http.ResponseWriter, r *http.Request, req *request) error {
	filename, data, err := readUpload(r)
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		return dream.ErrAssetTooLarge
	}
	if err != nil {
		return err
	}
	asset, err := dream.NewAsset(req.platformID(), filename, data, s.now())
	if err != nil {
		return err
	}
	if err := s.writer.Write(r.Context(), dream.PutAsset{Asset: asset}, nil); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]string{"key": asset.Key, "url": asset.URL()})
	return nil
}

// readUpload reads the file name and bytes of an upload in either form.
func readUpload(r *http.Request) (string, []byte, error) {
	mediaType, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if mediaType == "multipart/form-data" {
		file, header, err := r.FormFile("file")
		if errors.Is(err, http.ErrMissingFile) {
			return "", nil, dream.ErrAssetMissing
		}
		if err != nil {
			var tooLarge *http.MaxBytesError
			if errors.As(err, &tooLarge) {
				return "", nil, err
			}
			return "", nil, dream.Errorf(dream.KindInvalid, "Invalid form", "The request must be a multipart form with a file part")
		}
		defer file.Close()
		data, err := io.ReadAll(io.LimitReader(file, dream.MaxAssetSize+1))
		return header.Filename, data, err
	}
	var body struct {
		Filename string `json:"filename"`
		Data     string `json:"data"`
	}
	if err := decodeJSON(r, &body); err != nil {
		if dream.ErrorKind(err) == dream.KindTooLarge {
			return "", nil, dream.ErrAssetTooLarge
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
