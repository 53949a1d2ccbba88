package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/otpgate/otpgate/internal/accounts"
	"github.com/otpgate/otpgate/internal/otp"
)

type importCmd struct {
	storeFlags     `embed:""`
	DataDir        string `help:"Directory of the embedded database." default:"./otpgate-data" type:"path"`
	CardSecretFile string `help:"The card secret serve uses (--card-secret-file), which keys card and token numbers; default: the data directory's." type:"path" placeholder:"FILE"`
	File           string `arg:"" help:"Accounts file: .jsonl (one JSON object a line) or .csv (with a header row)." type:"existingfile"`
}

// Run parses the whole file first and applies it in one transaction, so a bad
// row leaves the directory exactly as it was.
func (c *importCmd) Run(ctx context.Context) error {
	if c.DatabaseURL != "" && c.CardSecretFile == "" {
		return errors.New("with --database-url, give --card-secret-file: the instances look cards and tokens up by it, so they must share it")
	}
	cards, err := cardHasher(c.CardSecretFile, c.DataDir)
	if err != nil {
		return err
	}
	// Every number under the one secret that writes now, named beside it;
	// serve looks numbers up under every secret listed.
	w := cards.Writer()
	accts, err := accounts.ParseFile(c.File, func(number string) []byte { return otp.HashCard(w, number) })
	if err != nil {
		return fmt.Errorf("%s: nothing imported:\n%w", c.File, err)
	}
	for i := range accts {
		for _, list := range [][]otp.Card{accts[i].Cards, accts[i].Tokens} {
			for j := range list {
				list[j].SecretID = w.ID
			}
		}
	}
	st, err := c.openStore(ctx, c.DataDir, false)
	if err != nil {
		return err
	}
	defer st.Close()
	if err := st.ImportAccounts(ctx, accts); err != nil {
		return fmt.Errorf("%s: nothing imported: %w", c.File, err)
	}
	fmt.Printf("imported %d accounts from %s\n", len(accts), c.File)
	return nil
}
