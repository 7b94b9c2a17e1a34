"""The platform: WeChat's wire format (`wire`), the API gateway (`gateway`, the only code that calls WeChat)
and the customer-service window model (`window`)."""
