package auth

import (
	"testing"
	"time"

	"github.com/dream-api/dream"
)

// exp is the exp claim of the payloads below.
const exp = 1748779200 // 2025-06-01T12:00:00Z

// claimsLayouts are token payloads in every layout the normalisation reads,
// with the claims each must give. They are also the seed corpus of
// FuzzClaims.
var claimsLayouts = []struct {
	name    string
	payload string
	want    dream.EndUserClaims
}{
	{
		name:    "TopLevel",
		payload: `{"sub":"user_1","exp":1748779200,"email":"a@x.test","plan":"pro","publishableKey":"pk_test_1"}`,
		want:    dream.EndUserClaims{UserID: "user_1", Email: "a@x.test", Plan: "pro", PublishableKey: "pk_test_1"},
	},
	{
		name:    "ClerkSession",
		payload: `{"sub":"user_1","exp":1748779200,"sid":"sess_9","azp":"https://app.example.com"}`,
		want:    dream.EndUserClaims{UserID: "user_1", SessionID: "sess_9"},
	},
	{
		name:    "PrimaryEmail",
		payload: `{"sub":"user_1","exp":1748779200,"primary_email":"p@x.test"}`,
		want:    dream.EndUserClaims{UserID: "user_1", Email: "p@x.test"},
	},
	{
		name:    "PublicMetadata",
		payload: `{"sub":"user_1","exp":1748779200,"publicMetadata":{"email":"m@x.test","plan":"team","publishableKey":"pk_live_2"}}`,
		want:    dream.EndUserClaims{UserID: "user_1", Email: "m@x.test", Plan: "team", PublishableKey: "pk_live_2"},
	},
	{
		name:    "Metadata",
		payload: `{"sub":"user_1","exp":1748779200,"metadata":{"email":"n@x.test","plan":"basic","publishableKey":"pk_test_3"}}`,
		want:    dream.EndUserClaims{UserID: "user_1", Email: "n@x.test", Plan: "basic", PublishableKey: "pk_test_3"},
	},
	{
		name: "TopLevelWins",
		payload: `{"sub":"user_1","exp":1748779200,"email":"a@x.test","plan":"pro","publishableKey":"pk_test_1",` +
			`"publicMetadata":{"email":"m@x.test","plan":"team","publishableKey":"pk_live_2"},` +
			`"metadata":{"email":"n@x.test","plan":"basic","publishableKey":"pk_test_3"}}`,
		want: dream.EndUserClaims{UserID: "user_1", Email: "a@x.test", Plan: "pro", PublishableKey: "pk_test_1"},
	},
	{
		name: "PublicMetadataBeatsMetadata",
		payload: `{"sub":"user_1","exp":1748779200,"publicMetadata":{"plan":"team"},` +
			`"metadata":{"email":"n@x.test","plan":"basic","publishableKey":"pk_test_3"}}`,
		want: dream.EndUserClaims{UserID: "user_1", Email: "n@x.test", Plan: "team", PublishableKey: "pk_test_3"},
	},
	{
		name:    "EmailBeatsPrimaryEmail",
		payload: `{"sub":"user_1","exp":1748779200,"email":"a@x.test","primary_email":"p@x.test","publicMetadata":{"email":"m@x.test"}}`,
		want:    dream.EndUserClaims{UserID: "user_1", Email: "a@x.test"},
	},
	{
		name:    "PrimaryEmailBeatsMetadata",
		payload: `{"sub":"user_1","exp":1748779200,"primary_email":"p@x.test","publicMetadata":{"email":"m@x.test"},"metadata":{"email":"n@x.test"}}`,
		want:    dream.EndUserClaims{UserID: "user_1", Email: "p@x.test"},
	},
	{
		name: "EmptyStringsFallThrough",
		payload: `{"sub":"user_1","exp":1748779200,"email":"","primary_email":"","plan":"","publishableKey":"",` +
			`"publicMetadata":{"plan":""},"metadata":{"email":"n@x.test","plan":"basic","publishableKey":"pk_test_3"}}`,
		want: dream.EndUserClaims{UserID: "user_1", Email: "n@x.test", Plan: "basic", PublishableKey: "pk_test_3"},
	},
	{
		name: "NonStringValuesIgnored",
		payload: `{"sub":"user_1","exp":1748779200,"email":7,"primary_email":null,"plan":{"name":"pro"},"publishableKey":["pk"],` +
			`"publicMetadata":{"plan":true,"publishableKey":1.5,"email":{}},` +
			`"metadata":{"email":"n@x.test","plan":"basic","publishableKey":"pk_test_3"}}`,
		want: dream.EndUserClaims{UserID: "user_1", Email: "n@x.test", Plan: "basic", PublishableKey: "pk_test_3"},
	},
	{
		name:    "NonObjectMetadataIgnored",
		payload: `{"sub":"user_1","exp":1748779200,"publicMetadata":"pro","metadata":[{"plan":"pro"}]}`,
		want:    dream.EndUserClaims{UserID: "user_1"},
	},
	{
		name:    "NullMetadataIgnored",
		payload: `{"sub":"user_1","exp":1748779200,"publicMetadata":null,"metadata":{"plan":null}}`,
		want:    dream.EndUserClaims{UserID: "user_1"},
	},
	{
		name:    "FractionalExp",
		payload: `{"sub":"user_1","exp":1748779200.9}`,
		want:    dream.EndUserClaims{UserID: "user_1"},
	},
	{
		name:    "KeysAreCaseSensitive",
		payload: `{"sub":"user_1","exp":1748779200,"Plan":"pro","PUBLICMETADATA":{"plan":"team"},"Email":"a@x.test"}`,
		want:    dream.EndUserClaims{UserID: "user_1"},
	},
	{
		name:    "Audiences",
		payload: `{"sub":"user_1","exp":1748779200,"aud":["a","b"],"iss":"https://clerk.example.test","jti":"j","nbf":1,"iat":1.5}`,
		want:    dream.EndUserClaims{UserID: "user_1"},
	},
	{
		name:    "OneAudience",
		payload: `{"sub":"user_1","exp":1748779200,"aud":"a","sid":null}`,
		want:    dream.EndUserClaims{UserID: "user_1"},
	},
}

func TestEndUserClaims(t *testing.T) {
	for _, tt := range claimsLayouts {
		t.Run(tt.name, func(t *testing.T) {
			claims, err := decodeClaims([]byte(tt.payload))
			if err != nil {
				t.Fatalf("reading the claims of the payload: %v, want them accepted", err)
			}
			got := claims.endUser()
			want := tt.want
			want.ExpiresAt = time.Unix(exp, 0).UTC()
			if *got != want {
				t.Fatalf("the payload gave end-user claims %+v, want %+v", *got, want)
			}
		})
	}
}

func TestEndUserClaims_Refuses(t *testing.T) {
	for _, tt := range []struct {
		name, payload string
	}{
		{"MissingExp", `{"sub":"user_1"}`},
		{"NullExp", `{"sub":"user_1","exp":null}`},
		{"StringExp", `{"sub":"user_1","exp":"1748779200"}`},
		{"ExpBeyondFloatPrecision", `{"sub":"user_1","exp":1e300}`},
		{"ExpOverflowing", `{"sub":"user_1","exp":1e309}`},
		{"NegativeExpBeyondRange", `{"sub":"user_1","exp":-1e18}`},
		{"NumericIssuer", `{"sub":"user_1","exp":1748779200,"iss":5}`},
		{"NumericAudience", `{"sub":"user_1","exp":1748779200,"aud":5}`},
		{"NullAudience", `{"sub":"user_1","exp":1748779200,"aud":null}`},
		{"AudienceOfNumbers", `{"sub":"user_1","exp":1748779200,"aud":["a",1]}`},
		{"StringNotBefore", `{"sub":"user_1","exp":1748779200,"nbf":"0"}`},
		{"NumericSessionID", `{"sub":"user_1","exp":1748779200,"sid":7}`},
		{"UpperCaseSub", `{"SUB":"user_1","exp":1748779200}`},
		{"UpperCaseExp", `{"sub":"user_1","EXP":1748779200}`},
		{"MissingSub", `{"exp":1748779200}`},
		{"EmptySub", `{"sub":"","exp":1748779200}`},
		{"NumericSub", `{"sub":1,"exp":1748779200}`},
		{"NotAnObject", `["sub","exp"]`},
		{"NotJSON", `{"sub":`},
		{"Empty", ``},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if claims, err := decodeClaims([]byte(tt.payload)); err == nil {
				t.Fatalf("reading claims of payload %s gave %+v, want a refusal", tt.payload, claims)
			}
		})
	}
}

// FuzzClaims feeds arbitrary payloads to the claims normalisation: it must
// never panic, and whatever it accepts must name a user.
func FuzzClaims(f *testing.F) {
	for _, tt := range claimsLayouts {
		f.Add([]byte(tt.payload))
	}
	f.Add([]byte(`{"sub":"user_1","exp":1e309}`))
	f.Add([]byte(`{"sub":"user_1","exp":-1e18,"publicMetadata":{"publicMetadata":{"plan":"x"}}}`))
	f.Fuzz(func(t *testing.T, payload []byte) {
		claims, err := decodeClaims(payload)
		if err != nil {
			return
		}
		if claims.endUser().UserID == "" {
			t.Fatalf("the claims of payload %q were accepted without an end user id, want a refusal", payload)
		}
	})
}
