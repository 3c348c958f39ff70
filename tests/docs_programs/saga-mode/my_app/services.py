# Not shown in docs/how-to-guides/saga-mode.md, whose steps call these services and whose tests
# patch my_app.services.shipping_service.ship: in-memory stand-ins (see docs/ruvon-docs-programs.md).


class InventoryService:
    def reserve(self, items):
        return f"RES-{len(items)}"

    def release(self, reservation_id):
        return None


class PaymentService:
    def charge(self, customer_id, amount):
        return f"TXN-{customer_id}"

    def refund(self, transaction_id):
        return f"REF-{transaction_id}"


class ShippingService:
    def ship(self, order_id, items):
        return f"SHIP-{order_id}"

    def cancel(self, shipping_id):
        return None


inventory_service = InventoryService()
payment_service = PaymentService()
shipping_service = ShippingService()
