package edge

import (
	"encoding/json"
	"strconv"

	"github.com/dream-api/dream"
)

// The usage check and the track are the SDK's most frequent calls; their
// answers are encoded here without reflection, byte for byte what
// encoding/json writes for the same structs (TestUsageAnswersEncodeAsJSON
// and FuzzUsageAnswersEncodeAsJSON hold them to it).

// appendJSON appends the answer's JSON encoding to b.
func (u usageCheckJSON) appendJSON(b []byte) []byte {
	b = append(b, `{"userId":`...)
	b = appendJSONString(b, u.UserID)
	b = append(b, `,"plan":`...)
	b = appendJSONString(b, u.Plan)
	b = append(b, `,"usageCount":`...)
	b = strconv.AppendInt(b, u.UsageCount, 10)
	b = appendLimits(b, u.Limit, u.Remaining)
	b = appendPeriod(b, u.PeriodStart, u.PeriodEnd)
	return append(b, '}')
}

// appendJSON appends the answer's JSON encoding to b.
func (t trackJSON) appendJSON(b []byte) []byte {
	b = append(b, `{"success":`...)
	b = strconv.AppendBool(b, t.Success)
	b = append(b, `,"data":`...)
	switch len(t.Data) {
	case 1:
		for k, v := range t.Data {
			b = append(b, '{')
			b = appendJSONString(b, k)
			b = append(b, ':')
			b = appendJSONString(b, v)
			b = append(b, '}')
		}
	default:
		// encoding/json sorts a map's keys, and writes a nil one as null.
		enc, _ := json.Marshal(t.Data)
		b = append(b, enc...)
	}
	u := t.Usage
	b = append(b, `,"usage":{"count":`...)
	b = strconv.AppendInt(b, u.Count, 10)
	b = append(b, `,"usageCount":`...)
	b = strconv.AppendInt(b, u.UsageCount, 10)
	b = appendLimits(b, u.Limit, u.Remaining)
	b = append(b, `,"plan":`...)
	b = appendJSONString(b, u.Plan)
	b = appendPeriod(b, u.PeriodStart, u.PeriodEnd)
	return append(b, "}}"...)
}

func appendLimits(b []byte, limit, remaining dream.Limit) []byte {
	b = append(b, `,"limit":`...)
	b = appendLimit(b, limit)
	b = append(b, `,"remaining":`...)
	return appendLimit(b, remaining)
}

func appendPeriod(b []byte, start, end string) []byte {
	b = append(b, `,"periodStart":`...)
	b = appendJSONString(b, start)
	b = append(b, `,"periodEnd":`...)
	return appendJSONString(b, end)
}

// appendLimit writes a limit as dream.Limit's MarshalJSON does.
func appendLimit(b []byte, l dream.Limit) []byte {
	if l.Unlimited() {
		return append(b, `"unlimited"`...)
	}
	return strconv.AppendInt(b, int64(l), 10)
}

// appendJSONString writes s as a JSON string. Printable ASCII that
// encoding/json writes as it is (no quote, backslash or HTML character)
// is copied; anything else is left to encoding/json, so that escapes stay
// exactly its own.
func appendJSONString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			enc, _ := json.Marshal(s)
			return append(b, enc...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}
