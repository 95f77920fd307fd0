package queries

import (
	"context"
	"fmt"
	"time"

	"buildledger/web"
)

// userSelect reads a user with the password hash from the vault, which
// the command side writes; the read model never holds one.
const userSelect = `select u.username, coalesce(u.fullname, ''), u.emailaddress, u.type, coalesce(c.password_hash, ''),
	u.forgotten, u.disabled, u.publicdashboard, array(select r.role from userroles r where r.username = u.username order by r.role)
	from users u left join vault.credentials c on c.user_name = u.username`

func scanUser(r scanner) (web.User, error) {
	var u web.User
	err := r.Scan(&u.UserName, &u.FullName, &u.EmailAddress, &u.Type, &u.Password, &u.Forgotten, &u.Disabled, &u.PublicDashboard, &u.Roles)
	return u, err
}

// User implements web.UserQueries.
func (db *DB) User(ctx context.Context, name string) (web.User, error) {
	u, err := scanUser(db.pool.QueryRow(ctx, userSelect+` where u.username = $1`, name))
	if err != nil {
		return web.User{}, notFound(err, "user", name)
	}
	return u, nil
}

// Users implements web.UserQueries.
func (db *DB) Users(ctx context.Context) ([]web.User, error) {
	rows, err := db.pool.Query(ctx, userSelect+` order by u.username`)
	if err != nil {
		return nil, fmt.Errorf("query users: %w", err)
	}
	defer rows.Close()
	out := []web.User{}
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, fmt.Errorf("scan user: %w", err)
		}
		out = append(out, u)
	}
	return out, rows.Err()
}

func scanToken(r scanner) (web.APIToken, error) {
	var t web.APIToken
	var created time.Time
	var used, revoked *time.Time
	err := r.Scan(&t.ID, &t.UserName, &t.Name, &t.Scope, &t.MintedBy, &created, &used, &revoked)
	t.CreatedAt = created.Unix()
	if used != nil {
		v := used.Unix()
		t.LastUsedAt = &v
	}
	if revoked != nil {
		v := revoked.Unix()
		t.RevokedAt = &v
	}
	return t, err
}

// tokenSelect reads tokens with their last use, which the command side
// records in the vault.
const tokenSelect = `select t.id, t.user_name, t.name, t.scope, coalesce(t.minted_by, ''), t.created_at, u.last_used_at, t.revoked_at
	from api_tokens t left join vault.api_token_use u on u.token_id = t.id`

// APITokens implements web.UserQueries.
func (db *DB) APITokens(ctx context.Context, user string) ([]web.APIToken, error) {
	rows, err := db.pool.Query(ctx, tokenSelect+` where t.user_name = $1 order by t.created_at desc, t.id`, user)
	if err != nil {
		return nil, fmt.Errorf("query tokens of %s: %w", user, err)
	}
	defer rows.Close()
	out := []web.APIToken{}
	for rows.Next() {
		t, err := scanToken(rows)
		if err != nil {
			return nil, fmt.Errorf("scan token: %w", err)
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// APITokenByHash implements web.UserQueries.
func (db *DB) APITokenByHash(ctx context.Context, hash string) (web.APIToken, error) {
	t, err := scanToken(db.pool.QueryRow(ctx, tokenSelect+` where t.token_hash = $1 and t.revoked_at is null`, hash))
	if err != nil {
		return web.APIToken{}, notFound(err, "api token", "")
	}
	return t, nil
}

// News implements web.SocialQueries.
func (db *DB) News(ctx context.Context) ([]web.NewsItem, error) {
	rows, err := db.pool.Query(ctx, `select id, contents, createtime, author from newsitems order by createtime desc, id desc`)
	if err != nil {
		return nil, fmt.Errorf("query news: %w", err)
	}
	defer rows.Close()
	out := []web.NewsItem{}
	for rows.Next() {
		var n web.NewsItem
		if err := rows.Scan(&n.ID, &n.Contents, &n.CreateTime, &n.Author); err != nil {
			return nil, fmt.Errorf("scan news item: %w", err)
		}
		out = append(out, n)
	}
	return out, rows.Err()
}

// StarredJobs implements web.SocialQueries.
func (db *DB) StarredJobs(ctx context.Context, user string) ([]web.StarredJob, error) {
	rows, err := db.pool.Query(ctx, `select project, jobset, job from starredjobs where username = $1 order by project, jobset, job`, user)
	if err != nil {
		return nil, fmt.Errorf("query starred jobs: %w", err)
	}
	defer rows.Close()
	out := []web.StarredJob{}
	for rows.Next() {
		var s web.StarredJob
		if err := rows.Scan(&s.Project, &s.Jobset, &s.Job); err != nil {
			return nil, fmt.Errorf("scan starred job: %w", err)
		}
		out = append(out, s)
	}
	return out, rows.Err()
}
