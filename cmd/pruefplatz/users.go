package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/user"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/pruefplatz/pruefplatz/inspector/auth"
	"github.com/pruefplatz/pruefplatz/inspector/bolt"
)

// defaultAuthStore is where serve and users keep users, sessions, tokens
// and the audit log, beside the default verdict store.
const defaultAuthStore = "station-data/auth.db"

func newUsersCmd() *cobra.Command {
	var path string
	var cost int
	cmd := &cobra.Command{
		Use:   "users",
		Short: "Manage the station's users, their roles and API tokens",
		Long: `users manages who may use the station's web pages and API. Roles:
  operator  live page, trigger, confirm and override verdicts, new shift
  sales     catalogue search with a photo and its matches
  engineer  models (activate, roll back), verdict export, store backup, metrics
  admin     users and tokens (here), the audit log on the engineer page
A user can hold several roles. Passwords are read from the terminal (twice),
or as the first line of standard input when it is not a terminal. Every change
is written to the audit log. The commands work while the station runs.`,
	}
	cmd.PersistentFlags().StringVar(&path, "auth-store", defaultAuthStore, "users, sessions, tokens and audit log (bbolt file)")
	cmd.PersistentFlags().IntVar(&cost, "bcrypt-cost", 0, "bcrypt cost of new password hashes (0: bcrypt's default, 10)")
	cmd.PersistentFlags().MarkHidden("bcrypt-cost")
	open := func() (*auth.Service, error) {
		st, err := bolt.OpenAuth(path)
		if err != nil {
			return nil, err
		}
		return auth.NewService(st, cost, nil), nil
	}
	var roles string
	add := &cobra.Command{
		Use: "add NAME --roles ROLE[,ROLE…]", Short: "Add a user (asks for the password)", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			rs, err := auth.ParseRoles(roles)
			if err != nil {
				return err
			}
			svc, err := open()
			if err != nil {
				return err
			}
			pw, err := readNewPassword(cmd)
			if err != nil {
				return err
			}
			if err := svc.AddUser(cmd.Context(), cliActor(), args[0], pw, rs); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "added %s (%s)\n", args[0], auth.JoinRoles(rs))
			return nil
		},
	}
	add.Flags().StringVar(&roles, "roles", "", "comma-separated roles: operator, sales, engineer, admin")
	add.MarkFlagRequired("roles")

	list := &cobra.Command{
		Use: "list", Short: "List users and API tokens", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			svc, err := open()
			if err != nil {
				return err
			}
			return listUsers(cmd.Context(), cmd.OutOrStdout(), svc.Store)
		},
	}
	passwd := &cobra.Command{
		Use: "passwd NAME", Short: "Set a user's password (ends their sessions)", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			svc, err := open()
			if err != nil {
				return err
			}
			if _, err := svc.Store.User(cmd.Context(), args[0]); err != nil {
				return err
			}
			pw, err := readNewPassword(cmd)
			if err != nil {
				return err
			}
			if err := svc.SetPassword(cmd.Context(), cliActor(), args[0], pw); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "password of %s changed; their sessions ended\n", args[0])
			return nil
		},
	}
	setDisabled := func(use, short string, disabled bool) *cobra.Command {
		return &cobra.Command{
			Use: use + " NAME", Short: short, Args: cobra.ExactArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				svc, err := open()
				if err != nil {
					return err
				}
				if err := svc.SetDisabled(cmd.Context(), cliActor(), args[0], disabled); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "%s %sd\n", args[0], use)
				return nil
			},
		}
	}
	setRoles := &cobra.Command{
		Use: "roles NAME ROLE[,ROLE…]", Short: "Replace a user's roles", Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			rs, err := auth.ParseRoles(args[1])
			if err != nil {
				return err
			}
			svc, err := open()
			if err != nil {
				return err
			}
			if err := svc.SetRoles(cmd.Context(), cliActor(), args[0], rs); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s now holds %s\n", args[0], auth.JoinRoles(rs))
			return nil
		},
	}

	token := &cobra.Command{Use: "token", Short: "Manage API tokens for machines (Authorization: Bearer …)"}
	var tokenRoles string
	tokenAdd := &cobra.Command{
		Use: "add NAME --roles ROLE[,ROLE…]", Short: "Create a token and print it once", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			rs, err := auth.ParseRoles(tokenRoles)
			if err != nil {
				return err
			}
			svc, err := open()
			if err != nil {
				return err
			}
			secret, t, err := svc.CreateToken(cmd.Context(), cliActor(), args[0], rs)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "token %s (id %s, %s); it is shown only now:\n%s\n", t.Name, t.ID, auth.JoinRoles(rs), secret)
			fmt.Fprintf(out, "use it as: curl -H 'Authorization: Bearer %s…' …\n", secret[:8])
			return nil
		},
	}
	tokenAdd.Flags().StringVar(&tokenRoles, "roles", "", "comma-separated roles: operator, sales, engineer, admin")
	tokenAdd.MarkFlagRequired("roles")
	tokenRevoke := &cobra.Command{
		Use: "revoke ID", Short: "Revoke a token by the id `users list` shows", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			svc, err := open()
			if err != nil {
				return err
			}
			if err := svc.RevokeToken(cmd.Context(), cliActor(), args[0]); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "token %s revoked\n", args[0])
			return nil
		},
	}
	token.AddCommand(tokenAdd, tokenRevoke)
	cmd.AddCommand(add, list, passwd, setDisabled("disable", "Disable a user and end their sessions", true),
		setDisabled("enable", "Re-enable a disabled user", false), setRoles, token)
	return cmd
}

// cliActor names whoever runs the command in the audit log: the OS user.
func cliActor() auth.Actor {
	name := "unknown"
	if u, err := user.Current(); err == nil {
		name = u.Username
	}
	host, _ := os.Hostname()
	return auth.Actor{Name: name, Via: auth.ViaCLI, Addr: host}
}

// readNewPassword asks twice on a terminal; otherwise it reads the first
// line of standard input (for scripts: echo "$PW" | pruefplatz users add …).
func readNewPassword(cmd *cobra.Command) (string, error) {
	in := cmd.InOrStdin()
	if f, ok := in.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		errw := cmd.ErrOrStderr()
		fmt.Fprint(errw, "new password: ")
		a, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(errw)
		if err != nil {
			return "", err
		}
		fmt.Fprint(errw, "again: ")
		b, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(errw)
		if err != nil {
			return "", err
		}
		if string(a) != string(b) {
			return "", errors.New("the passwords differ")
		}
		return string(a), auth.CheckPassword(string(a))
	}
	line, err := bufio.NewReader(in).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("reading the password: %w", err)
	}
	pw := strings.TrimRight(line, "\r\n")
	if pw == "" {
		return "", errors.New("no password on standard input")
	}
	return pw, auth.CheckPassword(pw)
}

func listUsers(ctx context.Context, w io.Writer, st auth.Store) error {
	us, err := st.Users(ctx)
	if err != nil {
		return err
	}
	ts, err := st.Tokens(ctx)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "USER\tROLES\tSTATE\tCREATED")
	for _, u := range us {
		state := "active"
		if u.Disabled {
			state = "disabled"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", u.Name, auth.JoinRoles(u.Roles), state, u.Created.Local().Format("2006-01-02 15:04"))
	}
	if len(ts) > 0 {
		fmt.Fprintln(tw, "\nTOKEN\tROLES\tSTATE\tCREATED\tID")
		for _, t := range ts {
			state := "active"
			if t.Revoked {
				state = "revoked"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", t.Name, auth.JoinRoles(t.Roles), state, t.Created.Local().Format("2006-01-02 15:04"), t.ID)
		}
	}
	return tw.Flush()
}
