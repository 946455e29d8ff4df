package hmrcsim_test

import (
	"bytes"
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/mtdconnect/mtdconnect/hmrcsim"
)

// restartedAs is restarted with options (a mode, say): a new simulator on
// the same clock loading the snapshot, on a new listener.
func (e *env) restartedAs(t *testing.T, snapshot []byte, opts hmrcsim.Options) *env {
	t.Helper()
	opts.Now, opts.RateLimit = e.clock.Now, -1
	sim := hmrcsim.New(opts)
	if err := sim.LoadState(bytes.NewReader(snapshot)); err != nil {
		t.Fatalf("LoadState: %v", err)
	}
	srv := httptest.NewServer(sim.Handler())
	t.Cleanup(srv.Close)
	conf := *e.conf
	conf.Endpoint.AuthURL, conf.Endpoint.TokenURL = srv.URL+"/oauth/authorize", srv.URL+"/oauth/token"
	return &env{t: t, sim: sim, srv: srv, clock: e.clock, conf: &conf}
}

// The demo's quarterly period type and the time an update arrived (for
// the fulfilment delay) survive a restart.
func TestStateKeepsPeriodTypesAndArrivals(t *testing.T) {
	e := newEnv(t, hmrcsim.Options{FulfilmentDelay: time.Hour})
	tok := e.connect().AccessToken
	bid := e.businessID(tok)
	if r := e.itsa("PUT", periodTypePath(itsaNINO, bid, taxYear), tok, acceptBD, "", periodType("calendar")); r.status != 204 {
		t.Fatalf("calendar: %d %v", r.status, r.body)
	}
	e.clock.Advance(86 * 24 * time.Hour) // 2026-07-01 09:00
	tok = e.connect().AccessToken
	body := `{"fromDate":"2026-04-06","toDate":"2026-06-30","ukProperty":{"income":{"periodAmount":10}}}`
	if r := e.itsa("PUT", cumulativePath(itsaNINO, bid, taxYear), tok, acceptProp, "", body); r.status != 204 {
		t.Fatalf("PUT: %d %v", r.status, r.body)
	}
	snapshot := save(t, e.sim)
	r := e.restartedAs(t, snapshot, hmrcsim.Options{FulfilmentDelay: time.Hour})
	if again := save(t, r.sim); !bytes.Equal(again, snapshot) {
		t.Errorf("a loaded snapshot saves differently:\n got %s\nwant %s", again, snapshot)
	}
	r.clock.Advance(30 * time.Minute)
	tok = r.connect().AccessToken
	ds := details(t, r.itsa("GET", obligationsPath(""), tok, acceptOBL, "", ""))
	if ds[0]["periodEndDate"] != "2026-06-30" || ds[0]["status"] != "open" {
		t.Errorf("after 30 minutes: %v", ds[0])
	}
	r.clock.Advance(30 * time.Minute)
	ds = details(t, r.itsa("GET", obligationsPath(""), tok, acceptOBL, "", ""))
	if ds[0]["status"] != "fulfilled" || ds[0]["receivedDate"] != "2026-07-01" {
		t.Errorf("after an hour: %v", ds[0])
	}
	// The type is fixed now that an update arrived.
	wantError(t, r.itsa("PUT", periodTypePath(itsaNINO, bid, taxYear), tok, acceptBD, "", periodType("standard")), 400, "RULE_BUSINESS_ID_STATE_CONFLICT")
}

// The sandbox's test businesses and stateful data survive a restart.
func TestStateKeepsSandboxTestData(t *testing.T) {
	e, tok := sandboxEnv(t)
	bid := e.createBusiness(tok, `{"typeOfBusiness":"uk-property","quarterlyTypeChoice":{"quarterlyPeriodType":"calendar","taxYearOfChoice":"2026-27"}}`)
	body := `{"fromDate":"2026-04-06","toDate":"2026-05-31","ukProperty":{"income":{"periodAmount":10}}}`
	if r := e.itsa("PUT", cumulativePath(itsaNINO, bid, taxYear), tok, acceptProp, "STATEFUL", body); r.status != 204 {
		t.Fatalf("PUT: %d %v", r.status, r.body)
	}
	snapshot := save(t, e.sim)
	r := e.restartedAs(t, snapshot, hmrcsim.Options{Mode: hmrcsim.ModeSandbox})
	tok = r.connect().AccessToken
	got := listOf(t, r.itsa("GET", "/individuals/business/details/"+itsaNINO+"/list", tok, acceptBD, "STATEFUL", ""))
	if len(got) != 1 || got[0]["businessId"] != bid {
		t.Errorf("test businesses after a restart: %v", got)
	}
	if g := r.itsa("GET", cumulativePath(itsaNINO, bid, taxYear), tok, acceptProp, "STATEFUL", ""); g.status != 200 || g.body["toDate"] != "2026-05-31" {
		t.Errorf("stateful summary after a restart: %d %v", g.status, g.body)
	}
	// The business's calendar quarters still apply, and its end cannot
	// move back.
	wantError(t, r.itsa("PUT", cumulativePath(itsaNINO, bid, taxYear), tok, acceptProp, "STATEFUL",
		strings.Replace(body, "2026-05-31", "2026-04-30", 1)), 400, "RULE_SUBMISSION_END_DATE_CANNOT_MOVE_BACKWARDS")
}

// A snapshot written before the simulator kept an update's period and
// arrival time (received dates only) still loads; the GET shows the
// period the update covered.
func TestStateLoadsOlderITSAEntries(t *testing.T) {
	e := newEnv(t, hmrcsim.Options{})
	e.clock.Advance(90 * 24 * time.Hour)
	tok := e.connect().AccessToken
	bid := e.businessID(tok)
	dateless := `{"ukProperty":{"income":{"periodAmount":10}}}`
	older := `{"version":1,"itsa":[{"nino":"AA123456","businessId":"` + bid + `","taxYear":"2026-27",` +
		`"summary":` + dateless + `,"submittedOn":"2026-07-05T09:00:00Z","received":{"2026-07-05":"2026-07-05"}}]}`
	r := e.restartedAs(t, []byte(older), hmrcsim.Options{})
	r.sim.AddApplication(hmrcsim.Application{ClientID: clientID, ClientSecret: clientSecret, RedirectURIs: []string{redirectURI}})
	r.sim.AddTestUser(hmrcsim.TestUser{UserID: userID, Password: userPassword, NINO: "AA123456A"})
	tok = r.connect().AccessToken
	g := r.itsa("GET", cumulativePath(itsaNINO, bid, taxYear), tok, acceptProp, "", "")
	if g.status != 200 || g.body["fromDate"] != "2026-04-06" || g.body["toDate"] != "2026-07-05" {
		t.Errorf("GET of an older entry: %d %v", g.status, g.body)
	}
	if ds := details(t, r.itsa("GET", obligationsPath(""), tok, acceptOBL, "", "")); ds[0]["status"] != "fulfilled" || ds[0]["receivedDate"] != "2026-07-05" {
		t.Errorf("obligation of an older entry: %v", ds[0])
	}
}

func TestLoadStateRefusesBadChoices(t *testing.T) {
	e, tok := sandboxEnv(t)
	bid := e.createBusiness(tok, ukBusiness)
	if r := e.itsa("PUT", periodTypePath(itsaNINO, bid, taxYear), tok, acceptBD, "STATEFUL", periodType("calendar")); r.status != 204 {
		t.Fatalf("%d %v", r.status, r.body)
	}
	good := save(t, e.sim)
	edit := func(change func(m map[string]any)) string {
		var m map[string]any
		if err := json.Unmarshal(good, &m); err != nil {
			t.Fatal(err)
		}
		change(m)
		b, _ := json.Marshal(m)
		return string(b)
	}
	first := func(m map[string]any, list string) map[string]any { return m[list].([]any)[0].(map[string]any) }
	for name, tt := range map[string]struct{ snapshot, want string }{
		"PeriodTypeUnknown": {edit(func(m map[string]any) { first(m, "periodTypes")["type"] = "monthly" }), "not standard or calendar"},
		"PeriodTypeBadYear": {edit(func(m map[string]any) { first(m, "periodTypes")["taxYear"] = "2026" }), "invalid NINO, business ID or tax year"},
		"BusinessNoVendor":  {edit(func(m map[string]any) { first(m, "testBusinesses")["vendor"] = "" }), "vendor and NINO are required"},
		"BusinessNoCreatedTime": {edit(func(m map[string]any) {
			delete(first(m, "testBusinesses")["businesses"].([]any)[0].(map[string]any), "created")
		}), "creation time are required"},
	} {
		t.Run(name, func(t *testing.T) {
			if err := e.sim.LoadState(strings.NewReader(tt.snapshot)); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("LoadState: %v, want %q", err, tt.want)
			}
			if after := save(t, e.sim); !bytes.Equal(after, good) {
				t.Fatal("a refused snapshot changed the simulator")
			}
		})
	}
}
