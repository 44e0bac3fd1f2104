package webhook

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/go-resty/resty/v2"

	"github.com/parleyhq/parley/plugins"
)

// openDialogRequest is the body OpenDialog POSTs to a webhook action.
type openDialogRequest struct {
	InputData openDialogData `json:"input_data"`
}

type openDialogData struct {
	Attributes map[string]any `json:"attributes"`
}

// openDialogReply is OpenDialog's answer. The envelope is decoded into a
// struct (faster than a generic map); attribute values stay generic JSON.
type openDialogReply struct {
	Successful *bool             `json:"successful"`
	OutputData *openDialogOutput `json:"output_data"`
	Errors     []json.RawMessage `json:"errors"`

	// Storage the fast decoder points Successful and OutputData at.
	successful bool
	outputData openDialogOutput
}

type openDialogOutput struct {
	Attributes map[string]any `json:"attributes"`
}

// decodeOpenDialog decodes an answer, with numbers normalized as decodeJSON
// does: by the fast decoder when it can, else by decodeOpenDialogGeneral.
func decodeOpenDialog(body []byte) (*openDialogReply, error) {
	if r, ok := fastOpenDialog(body); ok {
		return r, nil
	}
	return decodeOpenDialogGeneral(body)
}

// decodeOpenDialogGeneral decodes an answer with encoding/json.
func decodeOpenDialogGeneral(body []byte) (*openDialogReply, error) {
	var r openDialogReply
	if !hasLongDigitRun(body) {
		if err := json.Unmarshal(body, &r); err != nil {
			return nil, err
		}
		if r.OutputData != nil {
			normalizeFloats(r.OutputData.Attributes)
		}
		return &r, nil
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(&r); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errTrailing
	}
	if r.OutputData != nil {
		normalize(r.OutputData.Attributes)
	}
	return &r, nil
}

// describeDecodeError explains why an answer is not OpenDialog's shape.
func describeDecodeError(err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		where := te.Field
		if where == "" {
			return fmt.Sprintf("the body is a JSON %s, not an object", te.Value)
		}
		return fmt.Sprintf("%s is a JSON %s, which OpenDialog's answer does not allow there", where, te.Value)
	}
	return "invalid JSON: " + err.Error()
}

// openDialogResult reads {"successful":true,"output_data":{"attributes":{...}}}
// or {"successful":false,"errors":[{"message":"..."}]}.
func (c *call) openDialogResult(resp *resty.Response, status int, body []byte) plugins.ActionResult {
	n := c.trace.Attempts
	reply, decodeErr := decodeOpenDialog(body)
	if decodeErr == nil {
		c.respJSON = true
	}
	if status < 200 || status >= 300 {
		msg := fmt.Sprintf("the service answered %s (%s)", statusText(resp), attempts(n))
		if reply != nil {
			if errs := openDialogErrors(reply.Errors); errs != "" {
				msg += ": " + errs
			}
		}
		return c.fail(OutcomeHTTPError, "%s", msg)
	}
	if decodeErr != nil {
		return c.fail(OutcomeInvalidResponse, "the service's answer is not OpenDialog's shape: %s", describeDecodeError(decodeErr))
	}
	if reply.Successful == nil {
		return c.fail(OutcomeInvalidResponse, "the service's answer has no boolean \"successful\" field")
	}
	if !*reply.Successful {
		errs := openDialogErrors(reply.Errors)
		if errs == "" {
			errs = "no error message given"
		}
		return c.fail(OutcomeUnsuccessful, "the service reported failure: %s", errs)
	}
	var outputs map[string]any
	if reply.OutputData != nil {
		outputs = reply.OutputData.Attributes
	}
	if outputs == nil {
		outputs = map[string]any{}
	}
	c.trace.Outcome = OutcomeOK
	c.result.Success = true
	c.result.Outputs = outputs
	return c.finish()
}

// openDialogErrors joins the messages of an OpenDialog errors list
// (objects with a message, or plain strings).
func openDialogErrors(list []json.RawMessage) string {
	var msgs []string
	for _, raw := range list {
		var e struct {
			Message string `json:"message"`
		}
		var s string
		switch {
		case json.Unmarshal(raw, &e) == nil && e.Message != "":
			msgs = append(msgs, e.Message)
		case json.Unmarshal(raw, &s) == nil && s != "":
			msgs = append(msgs, s)
		}
	}
	return strings.Join(msgs, "; ")
}

// httpResult applies the http protocol's success check and output mappings.
func (c *call) httpResult(resp *resty.Response, status int, body []byte) plugins.ActionResult {
	a, n := c.a, c.trace.Attempts
	var bodyValue any
	if len(body) > 0 {
		if v, err := decodeJSON(body); err == nil {
			bodyValue = v
			c.respJSON = true
		} else {
			bodyValue = string(body)
		}
	}
	env := map[string]any{
		"input": nil,
		"response": map[string]any{
			"status":  status,
			"headers": responseHeaders(resp.Header()),
			"body":    bodyValue,
		},
	}
	env["input"] = c.inputs
	ok := status >= 200 && status < 300
	if a.s.success != nil {
		v, err := a.s.success.RunBool(env)
		if err != nil {
			return c.fail(OutcomeInvalidResponse, "evaluating success: %v", err)
		}
		ok = v
	}
	if !ok {
		outcome := OutcomeUnsuccessful
		if status < 200 || status >= 300 {
			outcome = OutcomeHTTPError
		}
		msg := fmt.Sprintf("the service answered %s (%s)", statusText(resp), attempts(n))
		if a.s.success != nil {
			msg += fmt.Sprintf("; success (%s) is false", a.s.success.Source)
		}
		return c.fail(outcome, "%s", msg)
	}
	outputs := make(map[string]any, len(a.s.outputs)+len(a.s.declared))
	for _, o := range a.s.outputs {
		v, err := o.prog.Run(env)
		if err != nil {
			return c.fail(OutcomeInvalidResponse, "evaluating output %s: %v", o.name, err)
		}
		outputs[o.name] = v
	}
	if obj, isObj := bodyValue.(map[string]any); isObj {
		for _, name := range a.s.declared {
			if _, mapped := outputs[name]; mapped {
				continue
			}
			if v, present := obj[name]; present {
				outputs[name] = v
			}
		}
	}
	c.trace.Outcome = OutcomeOK
	c.result.Success = true
	c.result.Outputs = outputs
	return c.finish()
}
