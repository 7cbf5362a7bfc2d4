import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { Link } from '@tanstack/react-router';
import { useEffect, useId, useRef, useState, type FormEvent } from 'react';
import { fieldError } from '../api/problem';
import type { components } from '../api/schema';
import { text } from '../search';
import { ConfirmButton } from '../ui/confirm';
import { FieldMessage, FormError } from '../ui/form';
import { dateTime, money } from '../ui/format';
import { Empty, QueryState } from '../ui/states';
import { portalMust } from './client';
import { portalApi, portalSession } from './session';

// ---------------------------------------------------------------------------------------------
// Changing the plan of a service: choose a plan, read the preview (what is charged now, or when a
// downgrade applies), confirm. A scheduled downgrade can be taken back until it applies.

type Service = components['schemas']['PortalService'];
type PlanRef = components['schemas']['PlanRef'];
type Options = components['schemas']['PlanChangeOptions'];
type Preview = components['schemas']['PlanChangePreview'];
type Result = components['schemas']['PlanChangeResult'];

const priceOf = (plan: PlanRef): string => `${money(plan.amount, plan.currency)} / ${plan.interval.toLowerCase()}`;

/** Focus moves to what an action produced (the preview, the outcome), as a screen reader user expects. */
function useFocusOn<T extends HTMLElement>(key: unknown) {
  const ref = useRef<T>(null);
  useEffect(() => {
    if (key) ref.current?.focus();
  }, [key]);
  return ref;
}

/** Only the owner and billing contacts may change the plan (the API's `portal:billing`); a service that is not running has no plan to change. */
export function ChangePlan({ service }: { service: Service }) {
  const role = portalSession.login()?.role;
  if (role !== 'OWNER' && role !== 'BILLING') return null;
  if (service.status !== 'ACTIVE' && service.status !== 'PAST_DUE') return null;
  return <PlanChangeSection service={service} />;
}

function PlanChangeSection({ service }: { service: Service }) {
  const options = useQuery({
    queryKey: ['portal', 'plan-change', service.id],
    queryFn: () => portalMust(portalApi.GET('/api/portal/services/{id}/plan-change', { params: { path: { id: service.id } } })),
  });
  // After an action the section may show another part (a scheduled change, or the choice again): focus follows it.
  const [acted, setActed] = useState(false);
  const [kept, setKept] = useState<string | null>(null);
  const keptNotice = useFocusOn<HTMLParagraphElement>(kept);
  const onActed = () => {
    setActed(true);
    setKept(null);
  };
  return (
    <section aria-labelledby="plan-change">
      <h2 id="plan-change">Change plan</h2>
      {kept && (
        <p role="status" className="notice" ref={keptNotice} tabIndex={-1}>
          {kept}
        </p>
      )}
      <QueryState query={options} what="the plans">
        {(data) =>
          data.pending ? (
            <ScheduledChange service={service} pending={data.pending} focusOnShow={acted} onKept={setKept} />
          ) : (
            <ChoosePlan service={service} options={data} onActed={onActed} />
          )
        }
      </QueryState>
    </section>
  );
}

/** A downgrade (or change of interval) waiting for the end of the paid period, and the way back. */
function ScheduledChange({ service, pending, focusOnShow, onKept }: { service: Service; pending: NonNullable<Options['pending']>; focusOnShow: boolean; onKept: (message: string) => void }) {
  const client = useQueryClient();
  const status = useFocusOn<HTMLParagraphElement>(focusOnShow);
  const keep = async () => {
    await portalMust(portalApi.DELETE('/api/portal/services/{id}/plan-change', { params: { path: { id: service.id } } }));
    // The plans read again, this part (and its open dialog) gives way to the choice; the notice
    // comes with that render, not before: nothing outside an open modal dialog can take the focus.
    await client.invalidateQueries({ queryKey: ['portal'] });
    onKept(`The change to ${pending.plan.productName} is cancelled: the service stays on ${service.plan.name}.`);
  };
  return (
    <>
      <p role="status" ref={status} tabIndex={-1}>
        Changes to <strong>{pending.plan.productName}</strong> ({priceOf(pending.plan)}) on <strong>{dateTime(pending.at)}</strong>. Until then the service stays on {service.plan.name}.
      </p>
      <ConfirmButton
        label="Keep current plan"
        title="Keep the current plan?"
        consequence={
          <p>
            The change to {pending.plan.productName} is cancelled: the service stays on {service.plan.name} and is renewed at {money(service.plan.amount, service.plan.currency)} as before.
          </p>
        }
        confirmLabel="Keep the current plan"
        danger={false}
        onConfirm={keep}
      />
    </>
  );
}

type Stage = { kind: 'choose' } | { kind: 'preview'; preview: Preview } | { kind: 'done'; result: Result };

function ChoosePlan({ service, options, onActed }: { service: Service; options: Options; onActed: () => void }) {
  const client = useQueryClient();
  const [stage, setStage] = useState<Stage>({ kind: 'choose' });
  const [chosen, setChosen] = useState<string>('');
  const path = { params: { path: { id: service.id } } };
  const preview = useMutation({
    mutationFn: (priceId: string) => portalMust(portalApi.POST('/api/portal/services/{id}/plan-change/preview', { ...path, body: { priceId } })),
    onSuccess: (answer) => setStage({ kind: 'preview', preview: answer }),
  });
  const confirm = useMutation({
    mutationFn: (priceId: string) => portalMust(portalApi.POST('/api/portal/services/{id}/plan-change', { ...path, body: { priceId } })),
    onSuccess: async (result) => {
      onActed();
      setStage({ kind: 'done', result });
      await client.invalidateQueries({ queryKey: ['portal'] });
    },
  });
  const reviewHeading = useFocusOn<HTMLHeadingElement>(stage.kind === 'preview' ? stage.preview : null);
  const outcome = useFocusOn<HTMLDivElement>(stage.kind === 'done' ? stage.result : null);

  const submit = (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    const priceId = text(new FormData(event.currentTarget), 'priceId');
    setChosen(priceId);
    confirm.reset();
    preview.mutate(priceId);
  };

  if (stage.kind === 'done') {
    const { result } = stage;
    return (
      <div role="status" className="notice" ref={outcome} tabIndex={-1}>
        {result.effective === 'now' ? (
          <p>
            Your plan is now <strong>{result.next.productName}</strong> ({priceOf(result.next)}).
          </p>
        ) : (
          <p>
            Changes to <strong>{result.next.productName}</strong> on <strong>{dateTime(result.effectiveAt)}</strong>.
          </p>
        )}
        {result.invoice && (
          <p>
            Invoice {result.invoice.number ?? ''} for {money(result.invoice.total, result.invoice.currency)} was issued:{' '}
            <Link to="/portal/invoices/$id" params={{ id: result.invoice.id }}>
              see invoice {result.invoice.number ?? ''}
            </Link>
            .
          </p>
        )}
        <button type="button" onClick={() => setStage({ kind: 'choose' })}>
          Done
        </button>
      </div>
    );
  }

  if (stage.kind === 'preview') {
    const { preview: quote } = stage;
    return (
      <div className="notice">
        <h3 ref={reviewHeading} tabIndex={-1}>
          {quote.current.productName} → {quote.next.productName}
        </h3>
        <PreviewFacts preview={quote} />
        <FormError error={confirm.error} fields={[]} />
        <div className="actions">
          <button type="button" className="primary" disabled={confirm.isPending} onClick={() => confirm.mutate(quote.next.priceId)}>
            {confirm.isPending ? 'Working…' : 'Confirm the change'}
          </button>
          <button type="button" disabled={confirm.isPending} onClick={() => setStage({ kind: 'choose' })}>
            Choose another plan
          </button>
        </div>
      </div>
    );
  }

  if (options.plans.length === 0) return <Empty>No other plan is offered for this service.</Empty>;
  return (
    <form onSubmit={submit} noValidate>
      <PlanChoices plans={options.plans} current={options.current} chosen={chosen} error={preview.error} />
      <FormError error={preview.error} fields={['priceId']} />
      <button type="submit" className="primary" disabled={preview.isPending}>
        {preview.isPending ? 'Working…' : 'Preview the change'}
      </button>
    </form>
  );
}

/** One radio per plan (a plan's interval is part of its price), with the API's error for priceId beside them. */
function PlanChoices({ plans, current, chosen, error }: { plans: readonly PlanRef[]; current: PlanRef; chosen: string; error: unknown }) {
  const id = useId();
  const message = fieldError(error, 'priceId');
  return (
    <fieldset className="grid-form" aria-describedby={message ? `${id}-error` : undefined}>
      <legend>New plan (now {current.productName}, {priceOf(current)})</legend>
      {plans.map((plan, index) => (
        <label key={plan.priceId} className="check">
          <input type="radio" name="priceId" value={plan.priceId} required defaultChecked={chosen ? chosen === plan.priceId : index === 0} /> {plan.productName}, {priceOf(plan)}
        </label>
      ))}
      <FieldMessage id={id} message={message} />
    </fieldset>
  );
}

/** What the change does, in the API's numbers: the amount charged now (an upgrade) or the date it applies. */
function PreviewFacts({ preview }: { preview: Preview }) {
  const { proration, next, renewalInvoice, mailboxes } = preview;
  return (
    <dl className="facts">
      <div>
        <dt>New price</dt>
        <dd>{priceOf(next)}</dd>
      </div>
      {preview.effective === 'now' ? (
        <div>
          <dt>Charged now</dt>
          <dd>
            {proration ? (
              <>
                <strong>{money(proration.total, proration.currency)}</strong> (the difference for the time left until {dateTime(proration.periodEnd)}
                {proration.taxTotal > 0 ? `, of which ${money(proration.taxTotal, proration.currency)} tax` : ''})
              </>
            ) : (
              'nothing'
            )}
          </dd>
        </div>
      ) : (
        <div>
          <dt>Applies on</dt>
          <dd>
            <strong>{dateTime(preview.effectiveAt)}</strong>, when the paid period ends; nothing is charged now
          </dd>
        </div>
      )}
      {renewalInvoice && (
        <div>
          <dt>Renewal invoice</dt>
          <dd>
            {renewalInvoice.number ?? 'The open renewal invoice'} ({money(renewalInvoice.total, next.currency)}) is replaced by one at {money(renewalInvoice.replacementAmount, next.currency)} before tax
          </dd>
        </div>
      )}
      {mailboxes.allowed !== null && (
        <div>
          <dt>Mailboxes</dt>
          <dd>
            {mailboxes.used} in use, {mailboxes.allowed} allowed
          </dd>
        </div>
      )}
    </dl>
  );
}
