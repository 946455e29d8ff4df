package mtdconnect

import (
	"errors"
	"strings"
	"testing"
)

func TestParseNINO(t *testing.T) {
	tests := []struct {
		in      string
		want    string
		problem string // empty when the input is valid
	}{
		{in: "TC663795B", want: "TC663795B"}, // OAS example
		{in: "PE938808A", want: "PE938808A"}, // Create Test User example
		{in: "AB123456C", want: "AB123456C"},
		{in: "AB123456", want: "AB123456"}, // suffix optional in HMRC's regex
		{in: "ab123456c", want: "AB123456C"},
		{in: " ab 12 34 56 c ", want: "AB123456C"},
		{in: "AB\t12\n34\u00a056 D", want: "AB123456D"},
		{in: "ZY123456A", want: "ZY123456A"},
		{in: "", problem: ninoProblemEmpty},
		{in: " \t\n", problem: ninoProblemEmpty},
		{in: "AB12345C", problem: ninoProblemShape},
		{in: "AB1234567C", problem: ninoProblemShape},
		{in: "A1123456C", problem: ninoProblemShape},
		{in: "AB123456CD", problem: ninoProblemShape},
		{in: "AB-12-34-56-C", problem: ninoProblemShape},
		{in: "ÅB123456C", problem: ninoProblemShape},
		{in: "AB123456\u017f", problem: ninoProblemShape}, // long s must not upper-case to S
		{in: "AB123456E", problem: ninoProblemSuffix},
		{in: "AB123456Z", problem: ninoProblemSuffix},
		{in: "QQ123456C", problem: "starts with QQ, which no National Insurance number does"},
		{in: "GB123456A", problem: "starts with GB, which no National Insurance number does"},
		{in: "BG123456A", problem: "starts with BG, which no National Insurance number does"},
		{in: "NK123456A", problem: "starts with NK, which no National Insurance number does"},
		{in: "KN123456A", problem: "starts with KN, which no National Insurance number does"},
		{in: "TN123456A", problem: "starts with TN, which no National Insurance number does"},
		{in: "NT123456A", problem: "starts with NT, which no National Insurance number does"},
		{in: "ZZ123456A", problem: "starts with ZZ, which no National Insurance number does"},
		{in: "DA123456A", problem: "starts with DA, which no National Insurance number does"},
		{in: "AO123456A", problem: "starts with AO, which no National Insurance number does"},
		{in: "AD123456A", problem: "starts with AD, which no National Insurance number does"},
	}
	for _, tt := range tests {
		got, err := ParseNINO(tt.in)
		if tt.problem == "" {
			if err != nil || got != tt.want {
				t.Errorf("ParseNINO(%q) = %q, %v; want %q, nil", tt.in, got, err, tt.want)
			}
			continue
		}
		var ne *NINOError
		if !errors.As(err, &ne) {
			t.Errorf("ParseNINO(%q) = %q, %v; want *NINOError", tt.in, got, err)
			continue
		}
		if got != "" || ne.Problem != tt.problem || ne.Input != tt.in {
			t.Errorf("ParseNINO(%q) = %q, %+v; want problem %q", tt.in, got, ne, tt.problem)
		}
		if !strings.Contains(err.Error(), tt.problem) {
			t.Errorf("error %q does not contain the problem", err)
		}
		// Errors are logged; what was typed is personal data.
		if in := strings.TrimSpace(tt.in); len(in) > 3 && strings.Contains(err.Error(), in) {
			t.Errorf("error %q repeats the input %q", err, tt.in)
		}
	}
}

func TestParseVRN(t *testing.T) {
	tests := []struct {
		in, want string
		ok       bool
	}{
		{"123456789", "123456789", true},
		{"GB123456789", "123456789", true},
		{"gb 123 4567 89", "123456789", true},
		{" 123 456 789 ", "123456789", true},
		{"", "", false},
		{"98765432", "", false},
		{"1234567890", "", false},
		{"GB12345678X", "", false},
		{"XI123456789", "", false},
		{"GBGB123456789", "", false},
		{"１２３４５６７８９", "", false}, // full-width digits are not ASCII digits
	}
	for _, tt := range tests {
		got, err := ParseVRN(tt.in)
		if tt.ok != (err == nil) || got != tt.want {
			t.Errorf("ParseVRN(%q) = %q, %v; want %q ok=%v", tt.in, got, err, tt.want, tt.ok)
		}
		var ve *VRNError
		if err != nil && !errors.As(err, &ve) {
			t.Errorf("ParseVRN(%q) error %T, want *VRNError", tt.in, err)
		}
		if in := strings.TrimSpace(tt.in); err != nil && len(in) > 3 && strings.Contains(err.Error(), in) {
			t.Errorf("error %q repeats the input %q", err, tt.in)
		}
	}
}

func FuzzParseNINO(f *testing.F) {
	for _, s := range []string{
		"", "TC663795B", "ab 12 34 56 c", "AB123456", "QQ123456C", "GB123456A",
		"ZZ123456A", "AB123456E", "AB123456 ", "\u00a0AB123456A\u2003", "AB123456\u017f",
		"aB1234567", "NZ123456D",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out, err := ParseNINO(s)
		if err != nil {
			var ne *NINOError
			if !errors.As(err, &ne) || ne.Problem == "" || out != "" {
				t.Fatalf("ParseNINO(%q) = %q, %v", s, out, err)
			}
			return
		}
		if !ninoPattern.MatchString(out) {
			t.Fatalf("ParseNINO(%q) = %q which does not match HMRC's regex", s, out)
		}
		if strings.ContainsAny(out, " \t\r\n") || ninoRejectedPrefixes[out[:2]] {
			t.Fatalf("ParseNINO(%q) = %q", s, out)
		}
		again, err := ParseNINO(out)
		if err != nil || again != out {
			t.Fatalf("not idempotent: ParseNINO(%q) = %q, %v", out, again, err)
		}
	})
}
