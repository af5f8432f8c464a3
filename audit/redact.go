package audit

import (
	"bytes"
	"encoding/json"
)

// Redacted replaces the values RedactKeys hides.
const Redacted = "[redacted]"

// RedactKeys returns a function for Options.Redact that replaces the value
// of every object member named by one of keys (exact, case-sensitive), at
// any depth of a JSON body, with "[redacted]". Member order and all other
// values are kept. A body that is a plain string is left as it is.
func RedactKeys(keys ...string) func(*Entry) {
	set := make(map[string]bool, len(keys))
	for _, k := range keys {
		set[k] = true
	}
	return func(e *Entry) {
		if len(e.Body) == 0 || (e.Body[0] != '{' && e.Body[0] != '[') {
			return
		}
		var b bytes.Buffer
		if redactValue(&b, e.Body, set) == nil {
			e.Body = b.Bytes()
		}
	}
}

// redactValue writes the JSON value raw to b with the members named in keys
// redacted.
func redactValue(b *bytes.Buffer, raw json.RawMessage, keys map[string]bool) error {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || (raw[0] != '{' && raw[0] != '[') {
		return json.Compact(b, raw)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	open, err := dec.Token()
	if err != nil {
		return err
	}
	object := open == json.Delim('{')
	if object {
		b.WriteByte('{')
	} else {
		b.WriteByte('[')
	}
	for i := 0; dec.More(); i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		hide := false
		if object {
			tok, err := dec.Token()
			if err != nil {
				return err
			}
			name, _ := tok.(string)
			k, err := json.Marshal(name)
			if err != nil {
				return err
			}
			b.Write(k)
			b.WriteByte(':')
			hide = keys[name]
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return err
		}
		if hide {
			b.WriteString(`"` + Redacted + `"`)
			continue
		}
		if err := redactValue(b, v, keys); err != nil {
			return err
		}
	}
	if _, err := dec.Token(); err != nil {
		return err
	}
	if object {
		b.WriteByte('}')
	} else {
		b.WriteByte(']')
	}
	return nil
}
