package events

import "encoding/json"

// registerUpcasters adds the upcasters of the builtin types.
func registerUpcasters(c *Codec) {
	c.RegisterUpcaster("UserCreated", 1, dropPasswordHash(""))
	c.RegisterUpcaster("UserUpdated", 1, dropPasswordHash("passwordChanged"))
	c.RegisterUpcaster("APITokenCreated", 1, defaultTokenScope)
}

// legacyTokenScope is the scope of tokens recorded before tokens had
// scopes: "eval", enough for CI, as a token minted today without a scope
// gets. They could do all their user could; scripts that used one to
// change configuration need a new token of scope "admin"
// (docs/security.md).
const legacyTokenScope = "eval"

// defaultTokenScope upcasts APITokenCreated version 1, which had no
// scope, to version 2.
func defaultTokenScope(old json.RawMessage) (json.RawMessage, error) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(old, &fields); err != nil {
		return nil, err
	}
	if _, ok := fields["scope"]; !ok {
		fields["scope"] = json.RawMessage(`"` + legacyTokenScope + `"`)
	}
	return json.Marshal(fields)
}

// dropPasswordHash returns the upcaster of a version 1 user event: it
// removes passwordHash, so no reader of the log gets an old hash back,
// and, when flag is not empty, records in that field whether there was
// one. The hash stays in the old event's bytes, which the hash chain
// covers; docs/security.md says how an operator scrubs them.
func dropPasswordHash(flag string) Upcaster {
	return func(old json.RawMessage) (json.RawMessage, error) {
		var fields map[string]json.RawMessage
		if err := json.Unmarshal(old, &fields); err != nil {
			return nil, err
		}
		var hash string
		if raw, ok := fields["passwordHash"]; ok {
			if err := json.Unmarshal(raw, &hash); err != nil {
				return nil, err
			}
			delete(fields, "passwordHash")
		}
		if flag != "" && hash != "" {
			fields[flag] = json.RawMessage("true")
		}
		return json.Marshal(fields)
	}
}
