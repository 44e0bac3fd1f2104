package webhook

import (
	"compress/flate"
	"compress/gzip"
	"errors"
	"io"
	"net/http"
	"strings"
)

// errTooLarge is a response body over max_response_bytes.
var errTooLarge = errors.New("the response body is over the size limit")

// encodingError is a body that says it is gzip-encoded and is not.
type encodingError struct{ err error }

func (e *encodingError) Error() string { return e.err.Error() }
func (e *encodingError) Unwrap() error { return e.err }

func isEncodingError(err error) bool {
	var ee *encodingError
	return errors.As(err, &ee)
}

// readBody reads and closes the body of raw, the answer to one attempt, into
// c.body (in the call's recycled buffer) and c.bodyErr, which exchange
// clears before each attempt. A gzip Content-Encoding, which answers only a
// configured Accept-Encoding (the transport asks for none), is decoded; the
// size limit bounds the decoded bytes.
func (c *call) readBody(raw *http.Response) {
	defer raw.Body.Close()
	var r io.Reader = raw.Body
	gz := strings.EqualFold(raw.Header.Get("Content-Encoding"), "gzip") && raw.ContentLength != 0
	if gz {
		zr, err := gzip.NewReader(raw.Body)
		if err != nil {
			c.bodyErr = gzipError(err)
			return
		}
		defer zr.Close()
		r = zr
	}
	buf, err := readLimited(c.buf[:0], r, c.a.s.maxBytes)
	if gz && err != nil && err != errTooLarge {
		err = gzipError(err)
	}
	c.buf, c.body, c.bodyErr = buf[:0], buf, err
}

// gzipError classifies an error of decoding a gzip body: a malformed header
// or stream (or an empty body) is an encoding error; anything else, such as
// a body cut short by the connection (io.ErrUnexpectedEOF), is the
// exchange's and may be retried.
func gzipError(err error) error {
	var corrupt flate.CorruptInputError
	if errors.Is(err, gzip.ErrHeader) || errors.Is(err, gzip.ErrChecksum) || errors.As(err, &corrupt) || err == io.EOF {
		return &encodingError{err}
	}
	return err
}

// readLimited appends all of r to buf, failing with errTooLarge as soon as
// more than limit bytes came.
func readLimited(buf []byte, r io.Reader, limit int64) ([]byte, error) {
	if cap(buf) == 0 {
		buf = make([]byte, 0, 512)
	}
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)] // grow
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if int64(len(buf)) > limit {
			return buf, errTooLarge
		}
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return buf, err
		}
	}
}
