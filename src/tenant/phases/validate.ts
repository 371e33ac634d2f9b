import { describeProblems, validateTenantControlPlaneSpec } from '../../api/v1alpha1/validation.ts';
import { Blocked, type Phase, type TenantReconcile } from './phase.ts';

/** The semantic checks the CRD schema cannot make; a problem stops the pass until the spec changes. */
export class ValidatePhase implements Phase {
  readonly name = 'validate';
  readonly condition = 'Valid' as const;

  async run(reconcile: TenantReconcile) {
    const installedVersion = reconcile.tcp.status?.kubernetesResources?.version?.version;
    const problems = validateTenantControlPlaneSpec(reconcile.spec, { installedVersion });
    if (problems.length > 0) {
      throw new Blocked(
        {
          status: 'False',
          reason: 'InvalidSpec',
          message: describeProblems(problems),
        },
        undefined,
      );
    }
    return { condition: { status: 'True', reason: 'SpecValid', message: 'the spec passed validation' } } as const;
  }
}
