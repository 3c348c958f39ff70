"""
Payment workflow steps with compensation functions
"""

import uuid
from payment_processor.models import PaymentState
from ruvon.models import StepContext


# ============================================================================
# STEP 1: Create Order
# ============================================================================

def create_order(state: PaymentState, context: StepContext, **kwargs) -> dict:
    """
    Create order in order management system
    """
    print(f"\n📝 Creating order for customer {state.customer_id}")
    print(f"   Amount: ${state.amount:.2f} {state.currency}")

    # Simulate order creation
    order_ref = f"ORD-{uuid.uuid4().hex[:8].upper()}"

    print(f"   ✓ Order created: {order_ref}")

    return {
        "order_created": True,
        "order_reference": order_ref,
        "workflow_status": "order_created"
    }


def cancel_order(state: PaymentState, context: StepContext, **kwargs) -> dict:
    """
    COMPENSATION: Cancel order if workflow fails
    """
    print(f"\n🔄 COMPENSATION: Canceling order {state.order_reference}")

    # Simulate order cancellation
    print(f"   ✓ Order {state.order_reference} canceled")

    state.compensations_run.append("cancel_order")

    return {
        "order_created": False,
        "workflow_status": "order_canceled"
    }


# ============================================================================
# STEP 2: Charge Payment
# ============================================================================

def charge_payment(state: PaymentState, context: StepContext, **kwargs) -> dict:
    """
    Charge customer's payment method
    """
    print(f"\n💳 Charging payment: ${state.amount:.2f}")

    # Simulate payment processing
    transaction_id = f"TXN-{uuid.uuid4().hex[:12].upper()}"
    payment_method = "card_****1234"

    print(f"   Payment Method: {payment_method}")
    print(f"   ✓ Payment charged: {transaction_id}")

    # SIMULATE FAILURE: Uncomment to test compensation
    # raise Exception("Payment gateway timeout")

    return {
        "payment_charged": True,
        "transaction_id": transaction_id,
        "payment_method": payment_method,
        "workflow_status": "payment_charged"
    }


def refund_payment(state: PaymentState, context: StepContext, **kwargs) -> dict:
    """
    COMPENSATION: Refund payment if workflow fails
    """
    print(f"\n🔄 COMPENSATION: Refunding payment {state.transaction_id}")
    print(f"   Amount: ${state.amount:.2f}")

    # Simulate refund processing
    print(f"   ✓ Refund processed: {state.transaction_id}")

    state.compensations_run.append("refund_payment")

    return {
        "payment_charged": False,
        "workflow_status": "payment_refunded"
    }


# ============================================================================
# STEP 3: Reserve Inventory
# ============================================================================

def reserve_inventory(state: PaymentState, context: StepContext, **kwargs) -> dict:
    """
    Reserve inventory for order
    """
    print(f"\n📦 Reserving inventory for order {state.order_reference}")

    # Simulate inventory reservation
    reservation_id = f"RES-{uuid.uuid4().hex[:8].upper()}"

    print(f"   ✓ Inventory reserved: {reservation_id}")

    return {
        "inventory_reserved": True,
        "reservation_id": reservation_id,
        "workflow_status": "inventory_reserved"
    }


def release_inventory(state: PaymentState, context: StepContext, **kwargs) -> dict:
    """
    COMPENSATION: Release inventory reservation if workflow fails
    """
    print(f"\n🔄 COMPENSATION: Releasing inventory {state.reservation_id}")

    # Simulate inventory release
    print(f"   ✓ Inventory released: {state.reservation_id}")

    state.compensations_run.append("release_inventory")

    return {
        "inventory_reserved": False,
        "workflow_status": "inventory_released"
    }


# ============================================================================
# STEP 4: Create Shipment
# ============================================================================

def create_shipment(state: PaymentState, context: StepContext, **kwargs) -> dict:
    """
    Create shipment with carrier
    """
    print(f"\n📮 Creating shipment for order {state.order_reference}")

    # SIMULATE FAILURE HERE (for testing compensation)
    # Uncomment to trigger rollback:
    # raise Exception("Carrier API unavailable")

    # Simulate shipment creation
    tracking_number = f"TRACK-{uuid.uuid4().hex[:10].upper()}"

    print(f"   ✓ Shipment created: {tracking_number}")

    return {
        "shipment_created": True,
        "tracking_number": tracking_number,
        "workflow_status": "completed"
    }


def cancel_shipment(state: PaymentState, context: StepContext, **kwargs) -> dict:
    """
    COMPENSATION: Cancel shipment if workflow fails
    """
    print(f"\n🔄 COMPENSATION: Canceling shipment {state.tracking_number}")

    # Simulate shipment cancellation
    print(f"   ✓ Shipment canceled: {state.tracking_number}")

    state.compensations_run.append("cancel_shipment")

    return {
        "shipment_created": False,
        "workflow_status": "shipment_canceled"
    }
