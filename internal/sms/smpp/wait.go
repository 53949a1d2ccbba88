package smpp

import "context"

// WaitBound waits until the client holds a bind (nil), its first attempt to
// connect and bind fails (why), or ctx ends: for `otpgate serve --check`,
// which binds to each account before a rollout and sends nothing.
func (c *Client) WaitBound(ctx context.Context) error {
	_, err := c.bound(ctx)
	return err
}
