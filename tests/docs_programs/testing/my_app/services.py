# Not shown in docs/how-to-guides/testing.md, whose tests patch
# my_app.services.shipping_service.ship and my_app.services.payment_service.charge: in-memory
# stand-ins (see docs/ruvon-docs-programs.md).


class PaymentService:
    def charge(self, customer_id, amount):
        return f"PAY-{customer_id}"

    def refund(self, payment_id):
        return f"REF-{payment_id}"


class ShippingService:
    def ship(self, order_id):
        return f"SHIP-{order_id}"


payment_service = PaymentService()
shipping_service = ShippingService()
