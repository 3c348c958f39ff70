# Forward steps
def reserve_inventory(state: OrderState, context: StepContext) -> dict:
    """Reserve inventory for order items."""
    reservation_id = inventory_service.reserve(state.items)
    state.inventory_reserved = True
    state.reservation_id = reservation_id
    return {"reservation_id": reservation_id}

def charge_payment(state: OrderState, context: StepContext) -> dict:
    """Charge customer payment."""
    transaction_id = payment_service.charge(state.customer_id, state.amount)
    state.transaction_id = transaction_id
    return {"transaction_id": transaction_id}

def ship_order(state: OrderState, context: StepContext) -> dict:
    """Ship order to customer."""
    shipping_id = shipping_service.ship(state.order_id, state.items)
    state.shipping_id = shipping_id
    return {"shipping_id": shipping_id}

# Compensation steps
def release_inventory(state: OrderState, context: StepContext) -> dict:
    """Release reserved inventory."""
    if state.reservation_id:
        inventory_service.release(state.reservation_id)
        state.inventory_reserved = False
    return {"inventory_released": True}

def refund_payment(state: OrderState, context: StepContext) -> dict:
    """Refund payment."""
    if state.transaction_id:
        refund_id = payment_service.refund(state.transaction_id)
        return {"refund_id": refund_id}
    return {"no_refund_needed": True}

def cancel_shipment(state: OrderState, context: StepContext) -> dict:
    """Cancel shipment."""
    if state.shipping_id:
        shipping_service.cancel(state.shipping_id)
        return {"shipment_cancelled": True}
    return {"no_shipment_to_cancel": True}
