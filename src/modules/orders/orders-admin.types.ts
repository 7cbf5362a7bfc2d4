import { z } from 'zod';
import { orderStatuses } from '../../db/schema/index.js';
import { pageOf, paginationQuery } from '../../shared/http/pagination.js';
import { timestamp } from '../../shared/http/schemas.js';
import { customerResponse } from '../customers/customers.types.js';
import { jobResponse } from '../provisioning/jobs.types.js';
import { subscriptionResponse } from '../subscriptions/subscriptions.types.js';

export const orderStatus = z.enum(orderStatuses);

export const listOrdersQuery = z.strictObject({
  status: orderStatus.optional(),
  customerId: z.uuid().optional(),
  ...paginationQuery,
});
export type ListOrdersQuery = z.output<typeof listOrdersQuery>;

export const orderResponse = z
  .object({
    id: z.uuid(),
    status: orderStatus,
    customerId: z.uuid(),
    priceId: z.uuid(),
    paymentProvider: z.string(),
    paymentReference: z.string().meta({ description: 'Checkout session or payment intent id: the idempotency key' }),
    amount: z.number().int().meta({ description: 'Minor units (cents)' }),
    currency: z.string(),
    domainName: z.string().nullable(),
    stripeCustomerId: z.string().nullable(),
    stripeSubscriptionId: z.string().nullable(),
    metadata: z.record(z.string(), z.unknown()).nullable().meta({ description: 'What the order asked for beyond the columns, e.g. mailboxes' }),
    fulfilledAt: timestamp.nullable(),
    createdAt: timestamp,
    updatedAt: timestamp,
  })
  .meta({ id: 'Order' });
export type OrderView = z.output<typeof orderResponse>;

export const orderDetail = orderResponse
  .extend({
    customer: customerResponse,
    subscription: subscriptionResponse.nullable(),
    jobs: z.array(jobResponse).meta({ description: 'Provisioning steps in the order they run' }),
  })
  .meta({ id: 'OrderDetail' });
export type OrderDetailView = z.output<typeof orderDetail>;

export const ordersPage = pageOf(orderResponse);
export type OrdersPage = z.output<typeof ordersPage>;
