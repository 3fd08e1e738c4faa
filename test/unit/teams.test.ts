import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseTeams } from '../../core/config/config.js';
import { authorize, environmentTarget } from '../../core/app/authorization.js';
import type { Principal } from '../../core/domain/principal.js';

const assertMayManage = (p: Principal, env: { name: string; team: string }) => authorize(p, 'environment.destroy', environmentTarget(env));
import { ForbiddenError } from '../../core/domain/errors.js';
import { principalFor } from '../../core/domain/principal.js';

describe('teams and who may manage an environment', () => {
  const teams = parseTeams('qa=alice,slack:ann,github:octo-cat;platform=bob', 'root,slack:carol');

  it('when MAYFLY_TEAMS names slack:<user> and github:<login>, then they are members like token names', () => {
    assert.equal(principalFor(teams, 'slack:ann', 'user').team, 'qa');
    assert.equal(principalFor(teams, 'github:octo-cat', 'user').team, 'qa');
    assert.equal(principalFor(teams, 'slack:zed', 'user').team, 'default');
    assert.equal(principalFor(teams, 'slack:carol', 'user').admin, true);
  });

  it('when a principal of another team acts, then FORBIDDEN names the environment and its team; its team and admins pass', () => {
    const env = { name: 'shop-pr-1', team: 'qa' };
    assert.throws(() => assertMayManage(principalFor(teams, 'bob', 'token'), env), (e: ForbiddenError) => {
      assert.equal(e.status, 403);
      assert.equal(e.code, 'FORBIDDEN');
      assert.match(e.message, /"shop-pr-1" belongs to team "qa"; bob \(team "platform"\)/);
      return true;
    });
    assertMayManage(principalFor(teams, 'alice', 'token'), env);
    assertMayManage(principalFor(teams, 'slack:ann', 'user'), env);
    assertMayManage(principalFor(teams, 'root', 'token'), env);
  });
});
