package auth_test

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/muster-org/muster/internal/auth"
	"github.com/muster-org/muster/internal/servertest"
)

const pw = servertest.Password

func TestLogin(t *testing.T) {
	servertest.Each(t, func(t *testing.T, s *servertest.Server) {
		n := s.CreateNation("greens")
		s.CreateUser("ada@example.org", n, auth.RoleOrganizer)
		tests := []struct {
			name, email, password, next string
			status                      int
			location, body              string
		}{
			{name: "good", email: "ada@example.org", password: pw, status: 303, location: "/admin/"},
			{name: "good, e-mail case and spaces ignored", email: "  ADA@example.org ", password: pw, status: 303, location: "/admin/"},
			{name: "safe next", email: "ada@example.org", password: pw, next: "/admin/greens/?x=1", status: 303, location: "/admin/greens/?x=1"},
			{name: "protocol-relative next refused", email: "ada@example.org", password: pw, next: "//evil.example/", status: 303, location: "/admin/"},
			{name: "absolute next refused", email: "ada@example.org", password: pw, next: "https://evil.example/", status: 303, location: "/admin/"},
			{name: "backslash next refused", email: "ada@example.org", password: pw, next: "/\\evil.example", status: 303, location: "/admin/"},
			{name: "bad password", email: "ada@example.org", password: "wrong password!", status: 422, body: "password is not correct"},
			{name: "unknown e-mail, same message", email: "nobody@example.org", password: pw, status: 422, body: "password is not correct"},
			{name: "empty fields", email: "", password: "", status: 422, body: "This field is required"},
		}
		for i, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				c := s.Client()
				c.IP = "192.0.2." + strconv.Itoa(i+1)
				res := c.PostForm("/admin/login", url.Values{"email": {tt.email}, "password": {tt.password}, "next": {tt.next}})
				if res.Status != tt.status {
					t.Fatalf("status %d, want %d", res.Status, tt.status)
				}
				if tt.location != "" && res.Location != tt.location {
					t.Errorf("redirect to %q, want %q", res.Location, tt.location)
				}
				if tt.body != "" && !res.Has(tt.body) {
					t.Errorf("body lacks %q", tt.body)
				}
				signedIn := c.Get("/admin/").Status == http.StatusOK
				if signedIn != (tt.status == 303) {
					t.Errorf("signed in = %v after status %d", signedIn, res.Status)
				}
			})
		}

		t.Run("switcher lists the user's nations only", func(t *testing.T) {
			s.CreateNation("reds")
			c := s.Client()
			c.Login("ada@example.org", pw)
			res := c.Get("/admin/")
			if !res.Has(`href="/admin/greens/"`) || res.Has("reds") {
				t.Errorf("switcher: want greens only, got:\n%s", res.Body)
			}
		})

		t.Run("logout ends the session", func(t *testing.T) {
			c := s.Client()
			c.Login("ada@example.org", pw)
			cookie := c.SessionCookie()
			if res := c.PostForm("/admin/logout", nil); res.Status != 303 {
				t.Fatalf("logout status %d", res.Status)
			}
			if res := c.Get("/admin/"); res.Status != 303 || !strings.HasPrefix(res.Location, "/admin/login") {
				t.Errorf("after logout /admin/ = %d %s", res.Status, res.Location)
			}
			if _, err := s.App.Auth.SessionUser(context.Background(), cookie); err == nil {
				t.Errorf("session still valid in the database after logout")
			}
		})

		t.Run("anonymous is sent to sign-in with next", func(t *testing.T) {
			res := s.Client().Get("/admin/greens/")
			if res.Status != 303 || res.Location != "/admin/login?next=%2Fadmin%2Fgreens%2F" {
				t.Errorf("got %d %q", res.Status, res.Location)
			}
		})
	})
}

func TestLoginThrottle(t *testing.T) {
	servertest.Each(t, func(t *testing.T, s *servertest.Server) {
		ctx := context.Background()
		n := s.CreateNation("greens")
		s.CreateUser("ada@example.org", n, auth.RoleAdmin)
		s.CreateUser("bea@example.org", n, auth.RoleAdmin)

		// Ten failures for one account, from ten addresses.
		for i := range auth.ThrottleLimit {
			c := s.Client()
			c.IP = "198.51.100." + strconv.Itoa(i+1)
			if res := c.TryLogin("ada@example.org", "not the password"); res.Status != 422 {
				t.Fatalf("failure %d: status %d", i+1, res.Status)
			}
		}
		c := s.Client()
		c.IP = "203.0.113.9"
		res := c.TryLogin("ADA@example.org", pw)
		if res.Status != http.StatusTooManyRequests || !res.Has("wait 15 minutes") {
			t.Fatalf("right password after 10 failures: status %d, want 429 with a wait message", res.Status)
		}
		if c.SessionCookie() != "" {
			t.Fatalf("a throttled sign-in set a session")
		}
		c.Lang = "fr"
		if res := c.TryLogin("ada@example.org", pw); res.Status != 429 || !res.Has("attendez 15 minutes") {
			t.Errorf("throttle message not translated: %d", res.Status)
		}
		// Another account at the same address is not affected.
		c.Lang = ""
		c.Login("bea@example.org", pw)

		// Ten failures from one address (over any accounts) block that
		// address even for a right password, but not other addresses.
		for range auth.ThrottleLimit {
			if err := s.App.Auth.RecordFailure(ctx, time.Now(), auth.IPKey("192.0.2.77")); err != nil {
				t.Fatal(err)
			}
		}
		same := s.Client()
		same.IP = "192.0.2.77"
		if res := same.TryLogin("bea@example.org", pw); res.Status != 429 {
			t.Errorf("address throttle: status %d, want 429", res.Status)
		}
		other := s.Client()
		other.IP = "192.0.2.78"
		other.Login("bea@example.org", pw)
	})
}

func TestSuccessfulLoginClearsAccountFailures(t *testing.T) {
	servertest.Each(t, func(t *testing.T, s *servertest.Server) {
		ctx := context.Background()
		n := s.CreateNation("greens")
		s.CreateUser("ada@example.org", n, auth.RoleAdmin)
		fail := func() {
			for range auth.ThrottleLimit - 1 {
				if err := s.App.Auth.RecordFailure(ctx, time.Now(), auth.AccountKey("ada@example.org")); err != nil {
					t.Fatal(err)
				}
			}
		}
		fail()
		s.Client().Login("ada@example.org", pw)
		fail()
		s.Client().Login("ada@example.org", pw) // 18 failures in all, but only 9 since the success
	})
}

func TestCSRF(t *testing.T) {
	servertest.Each(t, func(t *testing.T, s *servertest.Server) {
		n := s.CreateNation("greens")
		s.CreateUser("ada@example.org", n, auth.RoleAdmin)
		org := s.CreateUser("org@example.org", n, auth.RoleOrganizer)
		c := s.Client()
		if res := c.PostFormCrossSite("/admin/login", url.Values{"email": {"ada@example.org"}, "password": {pw}}); res.Status != 403 {
			t.Errorf("cross-site sign-in: status %d, want 403", res.Status)
		}
		if c.SessionCookie() != "" {
			t.Errorf("cross-site sign-in set a session")
		}
		c.Login("ada@example.org", pw)
		path := "/admin/greens/staff/" + strconv.FormatInt(org.ID, 10) + "/role"
		if res := c.PostFormCrossSite(path, url.Values{"role": {"admin"}}); res.Status != 403 {
			t.Errorf("cross-site role change: status %d, want 403", res.Status)
		}
		if role, _ := s.App.Auth.RoleIn(context.Background(), n.ID, org.ID); role != auth.RoleOrganizer {
			t.Errorf("cross-site POST changed the role to %s", role)
		}
		if res := c.PostFormCrossSite("/admin/logout", nil); res.Status != 403 {
			t.Errorf("cross-site logout: status %d, want 403", res.Status)
		}
		if res := c.Get("/admin/"); res.Status != 200 {
			t.Errorf("still signed in after refused logout: status %d", res.Status)
		}
	})
}

func TestPasswordChange(t *testing.T) {
	servertest.Each(t, func(t *testing.T, s *servertest.Server) {
		n := s.CreateNation("greens")
		s.CreateUser("ada@example.org", n, auth.RoleOrganizer)
		laptop, phone := s.Client(), s.Client()
		laptop.Login("ada@example.org", pw)
		phone.Login("ada@example.org", pw)
		oldCookie := laptop.SessionCookie()

		const newPW = "a brand new passphrase"
		bad := []struct {
			name string
			form url.Values
			body string
		}{
			{"wrong current", url.Values{"current": {"wrong wrong wrong"}, "password": {newPW}, "password2": {newPW}}, "current password is not correct"},
			{"mismatch", url.Values{"current": {pw}, "password": {newPW}, "password2": {newPW + "x"}}, "do not match"},
			{"too short", url.Values{"current": {pw}, "password": {"short"}, "password2": {"short"}}, "at least 10 characters"},
		}
		for _, tt := range bad {
			res := laptop.PostForm("/admin/account/password", tt.form)
			if res.Status != 422 || !res.Has(tt.body) || !res.Has(`aria-invalid="true"`) {
				t.Errorf("%s: status %d, want 422 with %q next to the field", tt.name, res.Status, tt.body)
			}
		}

		res := laptop.PostForm("/admin/account/password", url.Values{"current": {pw}, "password": {newPW}, "password2": {newPW}})
		if res.Status != 303 {
			t.Fatalf("change: status %d, want 303:\n%s", res.Status, res.Body)
		}
		if laptop.SessionCookie() == oldCookie {
			t.Errorf("the changing browser kept its old session token")
		}
		if res := laptop.Get("/admin/account/password?changed=1"); res.Status != 200 || !res.Has("was changed") {
			t.Errorf("changing browser: status %d after change", res.Status)
		}
		if res := phone.Get("/admin/"); res.Status != 303 {
			t.Errorf("other browser still signed in after a password change: status %d", res.Status)
		}
		if res := s.Client().TryLogin("ada@example.org", pw); res.Status != 422 {
			t.Errorf("old password still works: status %d", res.Status)
		}
		s.Client().Login("ada@example.org", newPW)
	})
}

func TestSetup(t *testing.T) {
	servertest.Each(t, func(t *testing.T, s *servertest.Server) {
		ctx := context.Background()
		token := s.SetupToken()
		c := s.Client()
		if res := c.Get("/setup/not-a-token"); res.Status != 404 {
			t.Errorf("unknown token: %d", res.Status)
		}
		if res := c.Get("/setup/" + token); res.Status != 200 || !res.Has(`name="nation_slug"`) {
			t.Fatalf("set-up form: status %d", res.Status)
		}
		good := url.Values{"email": {"root@example.org"}, "name": {"Root"}, "password": {pw}, "password2": {pw},
			"nation_slug": {"greens"}, "nation_name": {"The Greens"}, "default_lang": {"fr"}}
		with := func(k, v string) url.Values {
			f := url.Values{}
			for key, vals := range good {
				f[key] = vals
			}
			f.Set(k, v)
			return f
		}
		bad := []struct {
			name, field string
			form        url.Values
		}{
			{"bad email", "email", with("email", "not-an-email")},
			{"no name", "name", with("name", " ")},
			{"password mismatch", "password2", with("password2", "something else entirely")},
			{"reserved slug", "nation_slug", with("nation_slug", "admin")},
			{"bad slug", "nation_slug", with("nation_slug", "Bad Slug!")},
			{"no nation name", "nation_name", with("nation_name", "")},
			{"bad language", "default_lang", with("default_lang", "de")},
		}
		for _, tt := range bad {
			res := c.PostForm("/setup/"+token, tt.form)
			if res.Status != 422 || !res.Has(`id="f-`+tt.field+`-error"`) {
				t.Errorf("%s: status %d, want 422 with an error on %s", tt.name, res.Status, tt.field)
			}
		}
		if has, _ := s.App.Auth.HasUsers(ctx); has {
			t.Fatalf("a refused set-up left an account behind")
		}
		if _, err := s.App.Nations.BySlug(ctx, "greens"); err == nil {
			t.Fatalf("a refused set-up left a nation behind")
		}

		res := c.PostForm("/setup/"+token, good)
		if res.Status != 303 || res.Location != "/admin/greens/" {
			t.Fatalf("set-up: status %d location %q, want 303 to /admin/greens/", res.Status, res.Location)
		}
		if res := c.Get("/admin/greens/"); res.Status != 200 || !res.Has("The Greens") {
			t.Errorf("dashboard after set-up: status %d", res.Status)
		}
		n, err := s.App.Nations.BySlug(ctx, "greens")
		if err != nil || n.DefaultLang != "fr" {
			t.Fatalf("nation: %+v %v", n, err)
		}
		u, _ := s.App.Auth.UserByEmail(ctx, "root@example.org")
		if role, err := s.App.Auth.RoleIn(ctx, n.ID, u.ID); err != nil || role != auth.RoleAdmin {
			t.Errorf("first user's role %q %v", role, err)
		}

		// Single use, and no new link works once an account exists.
		if res := s.Client().PostForm("/setup/"+token, with("email", "other@example.org")); res.Status != 404 {
			t.Errorf("reused set-up link: status %d, want 404", res.Status)
		}
		if res := s.Client().Get("/setup/" + token); res.Status != 404 {
			t.Errorf("reused set-up link GET: status %d, want 404", res.Status)
		}
		fresh := s.SetupToken()
		if res := s.Client().Get("/setup/" + fresh); res.Status != 404 {
			t.Errorf("new set-up link after a user exists: status %d, want 404", res.Status)
		}
		if res := s.Client().PostForm("/setup/"+fresh, with("nation_slug", "other")); res.Status != 404 {
			t.Errorf("new set-up link POST after a user exists: status %d, want 404", res.Status)
		}
	})
}

var inviteLink = regexp.MustCompile(`/invite/[A-Za-z0-9_-]+`)

func TestInvitation(t *testing.T) {
	servertest.Each(t, func(t *testing.T, s *servertest.Server) {
		ctx := context.Background()
		n := s.CreateNation("greens")
		other := s.CreateNation("reds")
		s.CreateUser("ada@example.org", n, auth.RoleAdmin)
		s.CreateUser("old@example.org", other, auth.RoleAdmin)
		admin := s.Client()
		admin.Login("ada@example.org", pw)

		invite := func(email, role string) string {
			t.Helper()
			res := admin.PostForm("/admin/greens/invitations", url.Values{"email": {email}, "role": {role}})
			link := inviteLink.FindString(res.Body)
			if res.Status != 200 || link == "" || !strings.Contains(res.Body, s.URL+link) {
				t.Fatalf("invite: status %d, no link shown", res.Status)
			}
			return link
		}
		if res := admin.PostForm("/admin/greens/invitations", url.Values{"email": {"nope"}, "role": {"organizer"}}); res.Status != 422 || !res.Has(`id="f-email-error"`) {
			t.Errorf("invite with a bad e-mail: status %d", res.Status)
		}
		if res := admin.PostForm("/admin/greens/invitations", url.Values{"email": {"x@example.org"}, "role": {"king"}}); res.Status != 422 {
			t.Errorf("invite with a bad role: status %d", res.Status)
		}

		// A new person creates an account.
		link := invite("New@Example.org", "organizer")
		if res := admin.Get("/admin/greens/staff"); !res.Has("new@example.org") {
			t.Errorf("pending invitation not listed")
		}
		newbie := s.Client()
		if res := newbie.Get(link); res.Status != 200 || !res.Has(`name="password2"`) || !res.Has("Nation greens") {
			t.Fatalf("invitation page: status %d", res.Status)
		}
		if res := newbie.PostForm(link, url.Values{"name": {"Newbie"}, "password": {"short"}, "password2": {"short"}}); res.Status != 422 {
			t.Errorf("short password: status %d", res.Status)
		}
		res := newbie.PostForm(link, url.Values{"name": {"Newbie"}, "password": {pw}, "password2": {pw}})
		if res.Status != 303 || res.Location != "/admin/greens/" {
			t.Fatalf("accept: status %d location %q", res.Status, res.Location)
		}
		if res := newbie.Get("/admin/greens/"); res.Status != 200 {
			t.Errorf("new organizer's dashboard: %d", res.Status)
		}
		if res := newbie.Get("/admin/greens/staff"); res.Status != 404 {
			t.Errorf("organizer on the staff page: status %d, want 404", res.Status)
		}
		if res := s.Client().Get(link); res.Status != 404 {
			t.Errorf("used invitation GET: status %d, want 404", res.Status)
		}
		if res := s.Client().PostForm(link, url.Values{"name": {"X"}, "password": {pw}, "password2": {pw}}); res.Status != 404 {
			t.Errorf("used invitation POST: status %d, want 404", res.Status)
		}

		// An existing account signs in with its password.
		link = invite("old@example.org", "volunteer")
		old := s.Client()
		if res := old.PostForm(link, url.Values{"password": {"wrong wrong wrong"}}); res.Status != 422 {
			t.Errorf("existing account, wrong password: status %d", res.Status)
		}
		if res := old.PostForm(link, url.Values{"password": {pw}}); res.Status != 303 {
			t.Fatalf("existing account accept: status %d", res.Status)
		}
		oldUser, _ := s.App.Auth.UserByEmail(ctx, "old@example.org")
		if role, err := s.App.Auth.RoleIn(ctx, n.ID, oldUser.ID); err != nil || role != auth.RoleVolunteer {
			t.Errorf("role after accepting: %q %v", role, err)
		}
		if role, _ := s.App.Auth.RoleIn(ctx, other.ID, oldUser.ID); role != auth.RoleAdmin {
			t.Errorf("accepting changed the role in another nation: %q", role)
		}

		// Signed in as someone else: refused, nothing granted.
		link = invite("third@example.org", "admin")
		if res := old.Get(link); res.Status != 200 || !res.Has("Sign out, then open the link again") {
			t.Errorf("other user's view of an invitation: %d", res.Status)
		}
		if res := old.PostForm(link, nil); res.Status != 409 {
			t.Errorf("accepting someone else's invitation: status %d, want 409", res.Status)
		}
		if role, _ := s.App.Auth.RoleIn(ctx, n.ID, oldUser.ID); role != auth.RoleVolunteer {
			t.Errorf("someone else's invitation changed the role to %q", role)
		}
		if res := admin.Get("/admin/greens/staff"); !res.Has("third@example.org") {
			t.Errorf("invitation consumed by the wrong user")
		}
	})
}

func TestStaffManagement(t *testing.T) {
	servertest.Each(t, func(t *testing.T, s *servertest.Server) {
		ctx := context.Background()
		n := s.CreateNation("greens")
		ada := s.CreateUser("ada@example.org", n, auth.RoleAdmin)
		org := s.CreateUser("org@example.org", n, auth.RoleOrganizer)
		vol := s.CreateUser("vol@example.org", n, auth.RoleVolunteer)
		admin, organizer, volunteer := s.Client(), s.Client(), s.Client()
		admin.Login(ada.Email, pw)
		organizer.Login(org.Email, pw)
		volunteer.Login(vol.Email, pw)

		for _, tt := range []struct {
			who        *servertest.Client
			path       string
			wantStatus int
		}{
			{admin, "/admin/greens/", 200}, {organizer, "/admin/greens/", 200}, {volunteer, "/admin/greens/", 200},
			{admin, "/admin/greens/staff", 200}, {organizer, "/admin/greens/staff", 404}, {volunteer, "/admin/greens/staff", 404},
		} {
			if res := tt.who.Get(tt.path); res.Status != tt.wantStatus {
				t.Errorf("GET %s: status %d, want %d", tt.path, res.Status, tt.wantStatus)
			}
		}
		uid := func(id int64) string { return strconv.FormatInt(id, 10) }
		if res := organizer.PostForm("/admin/greens/staff/"+uid(vol.ID)+"/role", url.Values{"role": {"admin"}}); res.Status != 404 {
			t.Errorf("organizer changing a role: status %d, want 404", res.Status)
		}

		res := admin.Get("/admin/greens/")
		if !res.Has(">3<") {
			t.Errorf("dashboard should count 3 staff:\n%s", res.Body)
		}
		res = admin.Get("/admin/greens/staff")
		for _, e := range []string{ada.Email, org.Email, vol.Email} {
			if !res.Has(e) {
				t.Errorf("staff list lacks %s", e)
			}
		}

		if res := admin.PostForm("/admin/greens/staff/"+uid(vol.ID)+"/role", url.Values{"role": {"organizer"}}); res.Status != 303 {
			t.Errorf("change role: %d", res.Status)
		}
		if role, _ := s.App.Auth.RoleIn(ctx, n.ID, vol.ID); role != auth.RoleOrganizer {
			t.Errorf("role now %q", role)
		}
		if res := admin.PostForm("/admin/greens/staff/"+uid(vol.ID)+"/role", url.Values{"role": {"emperor"}}); res.Status != 422 {
			t.Errorf("bad role: %d", res.Status)
		}
		if res := admin.PostForm("/admin/greens/staff/999999/role", url.Values{"role": {"admin"}}); res.Status != 404 {
			t.Errorf("unknown member: %d", res.Status)
		}
		if res := admin.PostForm("/admin/greens/staff/nonsense/remove", nil); res.Status != 404 {
			t.Errorf("non-numeric member: %d", res.Status)
		}
		// The last administrator can neither leave nor step down.
		if res := admin.PostForm("/admin/greens/staff/"+uid(ada.ID)+"/remove", nil); res.Status != 409 || !res.Has("at least one administrator") {
			t.Errorf("removing the last admin: status %d, want 409", res.Status)
		}
		if res := admin.PostForm("/admin/greens/staff/"+uid(ada.ID)+"/role", url.Values{"role": {"organizer"}}); res.Status != 409 {
			t.Errorf("demoting the last admin: status %d, want 409", res.Status)
		}
		if res := admin.PostForm("/admin/greens/staff/"+uid(vol.ID)+"/remove", nil); res.Status != 303 {
			t.Errorf("remove: %d", res.Status)
		}
		if _, err := s.App.Auth.RoleIn(ctx, n.ID, vol.ID); err == nil {
			t.Errorf("removed member still staff")
		}
		if res := volunteer.Get("/admin/greens/"); res.Status != 404 {
			t.Errorf("removed member's dashboard: %d, want 404", res.Status)
		}
		// With a second admin, the first may step down.
		admin.PostForm("/admin/greens/staff/"+uid(org.ID)+"/role", url.Values{"role": {"admin"}})
		if res := admin.PostForm("/admin/greens/staff/"+uid(ada.ID)+"/role", url.Values{"role": {"organizer"}}); res.Status != 303 || res.Location != "/admin/greens/" {
			t.Errorf("stepping down: %d %q", res.Status, res.Location)
		}
	})
}

func TestMetricsGate(t *testing.T) {
	servertest.Each(t, func(t *testing.T, s *servertest.Server) {
		n := s.CreateNation("greens")
		s.CreateUser("ada@example.org", n, auth.RoleAdmin)
		s.CreateUser("org@example.org", n, auth.RoleOrganizer)
		if res := s.Client().Get("/metrics"); res.Status != 404 {
			t.Errorf("anonymous /metrics: %d, want 404", res.Status)
		}
		org := s.Client()
		org.Login("org@example.org", pw)
		if res := org.Get("/metrics"); res.Status != 404 {
			t.Errorf("organizer /metrics: %d, want 404", res.Status)
		}
		admin := s.Client()
		admin.Login("ada@example.org", pw)
		if res := admin.Get("/metrics"); res.Status != 200 || !res.Has("muster_http_requests_total") {
			t.Errorf("admin /metrics: %d, want 200", res.Status)
		}
	})
}

func TestPagesAreTranslated(t *testing.T) {
	servertest.Each(t, func(t *testing.T, s *servertest.Server) {
		n := s.CreateNation("greens")
		s.CreateUser("ada@example.org", n, auth.RoleAdmin)
		tests := []struct{ lang, accept, want string }{
			{"en", "", "Sign in"},
			{"fr", "fr-BE,fr;q=0.9", "Se connecter"},
			{"nl", "nl-BE", "Aanmelden"},
		}
		for _, tt := range tests {
			c := s.Client()
			c.Lang = tt.accept
			res := c.Get("/admin/login")
			if res.Status != 200 || !res.Has(tt.want) || !res.Has(`<html lang="`+tt.lang+`">`) {
				t.Errorf("%s login page: status %d, lacks %q", tt.lang, res.Status, tt.want)
			}
			c.Login("ada@example.org", pw)
			for _, p := range []string{"/admin/", "/admin/greens/", "/admin/greens/staff", "/admin/account/password"} {
				res := c.Get(p + "?lang=" + tt.lang)
				if res.Status != 200 || !res.Has(`<html lang="`+tt.lang+`">`) || res.Has(">admin.") || res.Has("\"admin.") {
					t.Errorf("%s %s: status %d or untranslated key", tt.lang, p, res.Status)
				}
			}
		}
	})
}

// Bad input of every kind gets a 4xx answer, never a 500.
func TestBadInputNever500(t *testing.T) {
	servertest.Each(t, func(t *testing.T, s *servertest.Server) {
		token := s.SetupToken()
		c := s.Client()
		long := strings.Repeat("é", 5000)
		forms := []url.Values{
			{},
			{"email": {long}, "password": {long}, "password2": {long}, "name": {long}, "nation_slug": {long}, "nation_name": {long}, "default_lang": {long}, "next": {long}},
			{"email": {"a@b.c\x00"}, "password": {"\xff\xfe"}, "nation_slug": {"../../etc"}, "next": {"javascript:alert(1)"}},
		}
		for _, f := range forms {
			for _, p := range []string{"/admin/login", "/setup/" + token, "/invite/abc"} {
				if res := c.PostForm(p, f); res.Status >= 500 {
					t.Errorf("POST %s: status %d", p, res.Status)
				}
			}
		}
		if res := c.PostForm("/admin/login", url.Values{"email": {strings.Repeat("x", 2<<20)}}); res.Status >= 500 {
			t.Errorf("oversized body: status %d", res.Status)
		}
	})
}
