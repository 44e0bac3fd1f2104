package engine

import "context"

type newUserCheckKey struct{}

// NewUserCheck is called by Handle before the first turn of a user the store
// does not know (a state of version zero), under the user's lock; an error
// refuses the turn, which then changes nothing, and is returned wrapped.
type NewUserCheck func(ctx context.Context, userID string) error

// WithNewUserCheck returns a context whose turns call check before creating
// a user, as a server limits how many users one client may create.
func WithNewUserCheck(ctx context.Context, check NewUserCheck) context.Context {
	return context.WithValue(ctx, newUserCheckKey{}, check)
}

// checkNewUser runs the NewUserCheck of ctx, if any.
func checkNewUser(ctx context.Context, userID string) error {
	if check, ok := ctx.Value(newUserCheckKey{}).(NewUserCheck); ok && check != nil {
		return check(ctx, userID)
	}
	return nil
}
