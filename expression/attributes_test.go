package expression

import (
	"reflect"
	"testing"
)

func TestAttributes(t *testing.T) {
	env := Env{"user": Open(nil), "session": Open(nil), "output": Open(nil)}
	p, err := Compile(`user.full_name != "" && session["party_size"] > 2 || output?.eta == nil`, env, Bool)
	if err != nil {
		t.Fatal(err)
	}
	want := []Attribute{{"user", "full_name", 0}, {"session", "party_size", 24}, {"output", "eta", 53}}
	if got := p.Attributes(); !reflect.DeepEqual(got, want) {
		t.Errorf("program attributes = %v, want %v", got, want)
	}
	tpl, errs := ParseTemplate("Héllo {{ user.ful_name }} and {{session.x}}!", env)
	if errs != nil {
		t.Fatal(errs)
	}
	want = []Attribute{{"user", "ful_name", 10}, {"session", "x", 33}}
	if got := tpl.Attributes(); !reflect.DeepEqual(got, want) {
		t.Errorf("template attributes = %v, want %v", got, want)
	}
}
